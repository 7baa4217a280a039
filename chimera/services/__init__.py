"""Services: Planner, Worker, Judge and friends; they depend on ports only."""
