"""Marketing's message templates: placeholder validation and rendering per referrer."""
import string

from referral_app.errors import ValidationFailed

PLACEHOLDERS = {
    "referrer_first_name": "the referrer's first name",
    "referrer_name": "the referrer's full name",
    "offer": "what the referee is given (the give offer)",
    "link": "the referrer's personal link",
    "code": "the referrer's personal code",
    "program": "the program's name",
    "product": "the product's name",
}


def placeholders_in(template: str, field: str = "share_message") -> list[str]:
    """The placeholder names a template uses; raises ValidationFailed (on `field`) on broken braces."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template or "") if name is not None]
    except ValueError as exc:
        raise ValidationFailed("The message has an unmatched brace.",
                               {field: [f"Unmatched brace: {exc}. Write {{{{ for a literal brace."]}) from exc


def validate_template(template: str, field: str = "share_message") -> None:
    """Refuse unknown placeholders and format specs ("{code:>999999999}" would be a memory bomb)."""
    unknown = sorted({name for name in placeholders_in(template, field) if name not in PLACEHOLDERS})
    decorated = [name for _, name, spec, conversion in string.Formatter().parse(template or "")
                 if name is not None and (spec or conversion)]
    if decorated:
        raise ValidationFailed("The message formats a placeholder.",
                               {field: [f"Write {{{decorated[0]}}} plainly, without ! or : after the name."]})
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise ValidationFailed("The message uses unknown placeholders.",
                               {field: [f"Unknown placeholder {{{u}}}; use one of {known}." for u in unknown]})


def render(template: str, *, referrer_name: str, offer: str, link: str, code: str,
           program: str, product: str) -> str:
    """Fill a validated template. Values are plain text; pages escape them when shown."""
    values = {
        "referrer_first_name": (referrer_name or "").split(" ")[0],
        "referrer_name": referrer_name or "",
        "offer": offer or "", "link": link, "code": code, "program": program, "product": product,
    }
    return string.Formatter().vformat(template or "", (), values)


def share_texts(program, referrer, link: str, code: str) -> dict[str, str]:
    """Ready-to-send texts: e-mail (subject + body), LinkedIn post, plain text."""
    body = render(program.share_message, referrer_name=referrer.name or referrer.email,
                  offer=program.give_offer, link=link, code=code, program=program.name,
                  product=program.product)
    first = (referrer.name or referrer.email).split(" ")[0]
    return {
        "email_subject": f"{first} thinks you'd like {program.product}",
        "email_body": body,
        "linkedin": f"{body}\n\n#{program.product.replace(' ', '')}",
        "plain": body,
    }
