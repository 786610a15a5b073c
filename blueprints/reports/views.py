"""Views of the reports blueprint: dashboards, the interlock pack, a rep's own numbers, CSV."""
from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.reports import bp, charts
from blueprints.reports import tables as t
from blueprints.reports.downloads import csv_response
from blueprints.reports.forms import FilterForm, NotesForm
from blueprints.web import authorize, roles_required
from referral_app.errors import Conflict, ValidationFailed
from referral_app.extensions import db
from referral_app.models.base import utcnow
from referral_app.services import reports
from referral_app.services.reports.common import program_by_slug

bp.add_app_template_filter(t.grouped, "grouped")
bp.add_app_template_filter(t.whole_money, "whole_money")
FIELD_OF = {"from": "start", "to": "end", "program": "program", "product": "product",
            "min_volume": "min_volume"}


@dataclass
class Filters:
    period: object
    program: object = None
    product: str | None = None
    min_volume: int = 5
    currencies: tuple = ()  # of the programs covered (reports.currencies_in)

    def args(self) -> dict:
        out = self.period.as_args()
        if self.program is not None:
            out["program"] = self.program.slug
        if self.product:
            out["product"] = self.product
        return out


def read_filters(form: FilterForm, own_product: str | None = None) -> Filters:
    """The period and filters of the query string, or ValidationFailed naming the field."""
    slug = request.args.get("program") or None
    program = program_by_slug(slug)
    if slug and program is None:
        raise ValidationFailed("Unknown program.", fields={"program": ["No such program."]})
    product = (request.args.get("product") or None) if own_product is None else None
    zone = reports.report_zone(own_product or product or (program.product if program else None),
                               default=current_app.config.get("DISPLAY_TIMEZONE", "UTC"))
    period = reports.parse_period(request.args.get("from"), request.args.get("to"), zone, utcnow())
    if form.min_volume.raw_data and not form.min_volume.validate(form):
        raise ValidationFailed("Invalid minimum.", fields={"min_volume": list(form.min_volume.errors)})
    # Show the dates the report uses, also when they were defaulted.
    form.start.data, form.end.data = period.start.isoformat(), period.end.isoformat()
    return Filters(period, program, product, form.min_volume.data or 5,
                   tuple(reports.currencies_in(program, own_product or product)))


# Each page: (heading, builder). A builder returns the template context, with "tables".
def _dashboard(f, now):
    funnel = reports.funnel(f.period, program=f.program, product=f.product)
    return {"funnel": funnel, "tables": t.funnel_tables(funnel),
            "charts": {"funnel": charts.funnel_chart(funnel)}}


def _leaderboards(f, now):
    boards = reports.leaderboards(f.period, min_volume=f.min_volume, product=f.product)
    lists = t.leaderboard_tables(boards)
    return {"boards": boards, "tables": lists + [t.leaderboards_combined(lists)],
            "charts": {f"board-{e}-{m}": charts.board_chart(boards, e, m)
                       for e in ("programs", "reps") for m in ("sql", "opportunity", "won")}}


def _sla(f, now):
    report = reports.sla_report(f.period, now, product=f.product)
    return {"report": report, "tables": t.sla_tables(report),
            "charts": {f"trend-{n}": charts.sla_trend_chart(p)
                       for n, p in enumerate(report.products)}}


def _speed(f, now):
    result = reports.speed(f.period, now, program=f.program, product=f.product)
    return {"speed": result, "tables": [t.speed_table(result)],
            "charts": {"speed": charts.speed_chart(result)}}


def _rejections(f, now):
    result = reports.rejections(f.period, program=f.program, product=f.product)
    return {"rejections": result, "tables": [t.rejection_table(result)],
            "charts": {"rejections": charts.rejection_chart(result)}}


def _referrers(f, now):
    result = reports.referrers(f.period, program=f.program, product=f.product)
    return {"referrers": result, "tables": t.referrer_tables(result), "charts": {}}


def _mine(f, now):
    mine = reports.my_numbers(f.period, current_user.id, now)
    return {"mine": mine, "tables": t.mine_tables(mine), "charts": {}}


def _pack(f, now):
    pack = reports.interlock_pack(f.period, now, min_volume=f.min_volume)
    lists = t.leaderboard_tables(pack.leaderboards)
    sla = t.sla_tables(pack.sla)
    tables = [t.scorecard_table(pack.sla), *t.funnel_tables(pack.funnel), *lists,
              t.rejection_table(pack.rejections), sla[-1], t.speed_table(pack.speed)]
    return {"pack": pack, "tables": tables,
            "charts": {"funnel": charts.funnel_chart(pack.funnel),
                       "speed": charts.speed_chart(pack.speed),
                       **{f"trend-{n}": charts.sla_trend_chart(p)
                          for n, p in enumerate(pack.sla.products)}}}


PAGES = {
    "dashboard": ("Funnel", _dashboard), "leaderboards": ("Leaderboards", _leaderboards),
    "sla": ("SLA report", _sla), "speed": ("Speed and outcome", _speed),
    "rejections": ("Rejection reasons", _rejections), "referrers": ("Referrers", _referrers),
    "mine": ("My numbers", _mine), "pack": ("Interlock pack", _pack),
}
TABLE_PAGES = {"funnel": "dashboard", "funnel-value": "dashboard", "leaderboards": "leaderboards",
               "sla-marketing": "sla", "sla-sales": "sla", "sla-trend": "sla", "breaches": "sla",
               "speed": "speed", "rejections": "rejections", "participation": "referrers",
               "best-customers": "referrers", "best-partners": "referrers",
               "click-to-lead": "referrers", "mine-conversion": "mine", "mine-sla": "mine",
               "scorecard": "pack"}


def _page_of(table_key: str) -> str | None:
    if table_key.startswith("leaderboard-"):
        return "leaderboards"
    return TABLE_PAGES.get(table_key)


def _filters(page: str):
    """(form, filters) or (form, the 422 page) when the query string is not valid."""
    form = FilterForm(formdata=request.args)
    form.fill_choices()
    own = (current_user.product or "") if page == "mine" else None
    try:
        return form, read_filters(form, own_product=own)
    except ValidationFailed as exc:
        for name, messages in exc.fields.items():
            getattr(form, FIELD_OF.get(name, "start")).errors = list(messages)
        page_html = render_template("reports/invalid.html", form=form, page=page,
                                    heading=PAGES[page][0], message=exc.message)
        return form, (page_html, 422)


def _context(page: str, filters: Filters) -> dict:
    context = PAGES[page][1](filters, utcnow())
    context["table"] = {x.key: x for x in context["tables"]}
    return context


def _show(page: str, template: str):
    form, filters = _filters(page)
    if not isinstance(filters, Filters):
        return filters
    return render_template(template, form=form, f=filters, page=page, heading=PAGES[page][0],
                           **_context(page, filters))


@bp.get("/")
@roles_required("report.read")
def dashboard():
    return _show("dashboard", "reports/dashboard.html")


@bp.get("/leaderboards")
@roles_required("report.read")
def leaderboards():
    return _show("leaderboards", "reports/leaderboards.html")


@bp.get("/sla")
@roles_required("report.read")
def sla():
    return _show("sla", "reports/sla.html")


@bp.get("/speed")
@roles_required("report.read")
def speed():
    return _show("speed", "reports/speed.html")


@bp.get("/rejections")
@roles_required("report.read")
def rejections():
    return _show("rejections", "reports/rejections.html")


@bp.get("/referrers")
@roles_required("report.read")
def referrers():
    return _show("referrers", "reports/referrers.html")


@bp.get("/mine")
@roles_required("report.own")
def mine():
    return _show("mine", "reports/mine.html")


@bp.get("/<name>.csv")
@login_required
def download(name: str):
    page = _page_of(name)
    if page is None:
        abort(404)
    authorize("report.own" if page == "mine" else "report.read")
    _, filters = _filters(page)
    if not isinstance(filters, Filters):
        return filters
    table = _context(page, filters)["table"].get(name)
    if table is None:
        abort(404)
    return csv_response(table, filters.period)


@bp.route("/pack", methods=["GET", "POST"])
@roles_required("report.read")
def pack():
    form, filters = _filters("pack")
    if not isinstance(filters, Filters):
        return filters
    notes, status, conflict = NotesForm(), 200, None
    if notes.validate_on_submit():
        try:
            base = int(notes.version.data or 0)
        except ValueError:
            base = -1
        try:
            reports.save_note(filters.period, notes.notes.data, current_user.id, base)
            db.session.commit()
            flash("The notes are saved with this period.", "success")
            return redirect(url_for("reports.pack", **filters.period.as_args(),
                                    min_volume=filters.min_volume))
        except Conflict as exc:
            db.session.rollback()
            status, conflict = 409, exc.message
        except ValidationFailed as exc:
            db.session.rollback()
            status, notes.notes.errors = 422, exc.fields.get("notes", [exc.message])
    elif request.method == "POST":
        status = 400
    context = _context("pack", filters)
    saved = context["pack"].note
    notes.version.data = str(reports.version_of(saved))
    if request.method == "GET":
        notes.notes.data = saved.notes if saved is not None else ""
    html = render_template("reports/pack.html", form=form, f=filters, page="pack",
                           heading=PAGES["pack"][0], notes=notes, conflict=conflict, **context)
    return html, status
