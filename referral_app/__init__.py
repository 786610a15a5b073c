"""Interlock: the referral-program platform that sales and marketing run together."""
