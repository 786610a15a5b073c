"""SQLAlchemy models, one module per aggregate; importing this registers them all."""
from referral_app.models.agreement import Agreement, AgreementSignoff
from referral_app.models.calendar import Calendar
from referral_app.models.definition import MqlDefinition, RejectionReason, ScoringRule
from referral_app.models.lead import Attempt, Lead, LeadEvent
from referral_app.models.notification import Notification, WebhookDelivery, WebhookSubscription
from referral_app.models.program import Program, ReferralCode, RewardRule
from referral_app.models.purchase import Purchase
from referral_app.models.referral import CsvImport, IdempotencyRecord, Referral, RefusedReferral
from referral_app.models.report import (
    AuditEntry,
    ClosingDay,
    CohortDay,
    DailySnapshot,
    InterlockNote,
    MonthlyAttainment,
    SlaDay,
    SlaDayClock,
)
from referral_app.models.reward import PayoutBatch, Reward, RewardEvent
from referral_app.models.sla import SlaClock
from referral_app.models.user import ApiToken, User

__all__ = [
    "Agreement", "AgreementSignoff", "ApiToken", "Attempt", "AuditEntry", "Calendar",
    "ClosingDay", "CohortDay",
    "CsvImport", "DailySnapshot", "IdempotencyRecord", "InterlockNote", "Lead", "LeadEvent",
    "MonthlyAttainment", "MqlDefinition", "Notification", "PayoutBatch", "Program", "Purchase",
    "Referral", "ReferralCode", "RefusedReferral", "RejectionReason", "Reward", "RewardEvent",
    "RewardRule", "ScoringRule", "SlaClock", "SlaDay", "SlaDayClock", "User", "WebhookDelivery", "WebhookSubscription",
]
