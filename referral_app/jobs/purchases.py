"""Purchase jobs: attribute a recorded purchase to a referral; import a purchase CSV."""
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.models import Purchase
from referral_app.services import conversion, purchase_imports


@app_job
def match(purchase_id: int) -> str:
    """Idempotent: a matched purchase is left alone; the row lock stops a parallel twin."""
    purchase = db.session.scalar(select(Purchase).where(Purchase.id == purchase_id)
                                 .with_for_update())
    if purchase is None:
        return "missing"
    referral = conversion.match_purchase(purchase)
    return "matched" if referral is not None else "unmatched"


@app_job
def import_csv(import_id: int) -> str:
    return purchase_imports.run(import_id)
