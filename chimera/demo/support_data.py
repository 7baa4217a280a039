"""The support desk's fixed, offline data set: orders and knowledge-base articles."""

from __future__ import annotations

from typing import Any

ORDERS: dict[str, dict[str, Any]] = {
    "A-1001": {
        "customer": "Dana",
        "status": "delivered",
        "placed_on": "2026-03-01",
        "items": [{"sku": "PLAN-PRO-M", "name": "Pro plan, monthly", "quantity": 1}],
        "total": 49.0,
        "currency": "EUR",
        "payments": [
            {"on": "2026-03-03", "amount": 49.0, "method": "card"},
            {"on": "2026-03-03", "amount": 49.0, "method": "card"},
        ],
    },
    "A-1002": {
        "customer": "Lee",
        "status": "delivered",
        "placed_on": "2026-02-14",
        "items": [{"sku": "SEAT-ADD", "name": "Extra seat", "quantity": 3}],
        "total": 36.0,
        "currency": "EUR",
        "payments": [{"on": "2026-02-14", "amount": 36.0, "method": "invoice"}],
    },
    "A-1003": {
        "customer": "Ravi",
        "status": "processing",
        "placed_on": "2026-03-09",
        "items": [{"sku": "PLAN-TEAM-Y", "name": "Team plan, yearly", "quantity": 1}],
        "total": 990.0,
        "currency": "EUR",
        "payments": [],
    },
    "G-2001": {
        "customer": "Mia",
        "status": "cancelled",
        "placed_on": "2026-01-20",
        "items": [{"sku": "WORKSPACE", "name": "Second workspace", "quantity": 1}],
        "total": 120.0,
        "currency": "USD",
        "payments": [{"on": "2026-01-20", "amount": 120.0, "method": "card"}],
    },
    "G-2002": {
        "customer": "Ola",
        "status": "delivered",
        "placed_on": "2026-03-05",
        "items": [{"sku": "SUPPORT-PRIO", "name": "Priority support", "quantity": 1}],
        "total": 300.0,
        "currency": "USD",
        "payments": [{"on": "2026-03-05", "amount": 300.0, "method": "card"}],
    },
}

ARTICLES: list[dict[str, str]] = [
    {
        "id": "KB-1",
        "title": "Refunds for duplicate charges",
        "body": "If a card was charged twice for one invoice, the second payment is refunded "
        "in full within 5 business days. Check the order's payments: two payments of the "
        "same amount on the same day mean a duplicate charge.",
    },
    {
        "id": "KB-2",
        "title": "Password reset mail does not arrive",
        "body": "Reset mails come from no-reply@example.com. Ask the customer to check the spam "
        "folder and any mail filter; a reset link is valid for 30 minutes.",
    },
    {
        "id": "KB-3",
        "title": "Export button does nothing in Firefox",
        "body": "Known issue since release 4.2: strict tracking protection blocks the export "
        "download. Workaround: allow downloads for the site, or use another browser.",
    },
    {
        "id": "KB-4",
        "title": "Adding seats",
        "body": "Admins add seats under Billing > Seats. Extra seats are billed pro rata on the "
        "next invoice.",
    },
    {
        "id": "KB-5",
        "title": "SSO login loops back to the sign-in page",
        "body": "A loop after SSO login usually means the identity provider's clock is off or "
        "the callback URL is wrong. Compare the callback URL with Settings > SSO.",
    },
    {
        "id": "KB-6",
        "title": "Closing a workspace",
        "body": "Workspaces close at the end of the billing period. Data is kept for 30 days, "
        "then deleted.",
    },
    {
        "id": "KB-7",
        "title": "Changing the billing address",
        "body": "Billing addresses are changed under Billing > Details; the next invoice "
        "uses the new address. Past invoices can be reissued on request.",
    },
]
