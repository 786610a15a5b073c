"""ISO 4217 currency codes that rewards and purchases may be denominated in."""
from decimal import Decimal

# Active ISO 4217 codes, without precious metals (XAU, XAG, XPD, XPT), bond units
# (XBA–XBD) and the testing / no-currency codes (XTS, XXX): nobody is paid in those.
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD
XCG XDR XOF XPF XSU XUA YER ZAR ZMW ZWG ZWL
""".split())

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def is_currency(code) -> bool:
    """True for an upper-case ISO 4217 code such as "USD"."""
    return isinstance(code, str) and code in ISO_4217


def format_number(amount) -> str:
    """100 or 12.50: no cents when the amount is whole."""
    value = Decimal(str(amount))
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def format_amount(amount, currency: str) -> str:
    """Short human form for sentences: $100, €12.50, 150 CHF."""
    text = format_number(amount)
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"
