"""The programs API: create, read (with the caller's own link and code), edit and lifecycle."""
from flask import current_app, jsonify, request, url_for

from blueprints.api.base import Blueprint, caller, found, page_schema, require
from referral_app.extensions import db
from referral_app.models import Program
from referral_app.policy import may
from referral_app.schemas import PageArgs
from referral_app.schemas.programs import ProgramIn, ProgramOut, ProgramPatch
from referral_app.services import programs
from referral_app.services.codes import code_for

blp = Blueprint("programs_api", __name__,
                description="Referral programs: messaging, give-get rewards and lifecycle.")

ProgramPage = page_schema(ProgramOut, "ProgramPage")


@blp.before_request
def authorise_writes():
    # Before the body is parsed: a referrer posting anything gets 403, not a 422 about fields.
    if request.method == "POST":
        require("program.write")
    elif request.method == "PATCH":
        slug = (request.view_args or {}).get("slug")
        require("program.read", found(programs.by_slug(slug), "No such program."),
                missing="No such program.")
        require("program.write")


def _link(code: str) -> str:
    if "intake.landing" in current_app.view_functions:
        return url_for("intake.landing", code=code, _external=True)
    return request.host_url + "r/" + code


@blp.post("/programs")
@blp.arguments(ProgramIn)
@blp.response(201, ProgramOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(409, response="CONFLICT", description="`duplicate`: the slug is taken.")
def create_program(data: dict):
    """Create a program (marketing); it starts in draft unless `status` is `active`."""
    program = programs.create_program(data, caller().id)
    db.session.commit()
    return program


@blp.get("/programs")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProgramPage)
def list_programs(args: dict):
    """The programs the caller may see: all for marketing, open ones of their kind for referrers."""
    rows = [p for p in db.session.scalars(db.select(Program).order_by(Program.name))
            if may(caller(), "program.read", p)]
    page, per_page = args["page"], args["per_page"]
    return {"items": rows[(page - 1) * per_page: page * per_page], "page": page,
            "per_page": per_page, "total": len(rows)}


@blp.get("/programs/<slug>")
@blp.response(200, ProgramOut)
@blp.alt_response(404, response="NOT_FOUND")
def get_program(slug: str):
    """One program; for a referrer, with their personal referral `code` and `link`."""
    user = caller()
    program = require("program.read", found(programs.by_slug(slug), "No such program."),
                      missing="No such program.")
    body = ProgramOut().dump(program)
    if user.role == "referrer":
        code = code_for(user.id, program.id).code
        db.session.commit()
        body.update(code=code, link=_link(code))
    return jsonify(body)


@blp.patch("/programs/<slug>")
@blp.arguments(ProgramPatch)
@blp.response(200, ProgramOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT",
                  description="`invalid_transition` for a refused lifecycle move; `duplicate`.")
def patch_program(data: dict, slug: str):
    """Edit fields (marketing); `status` moves draft → active ↔ paused → archived."""
    program = programs.update_program(programs.by_slug(slug), data)
    db.session.commit()
    return program
