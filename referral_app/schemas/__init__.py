"""Marshmallow schemas (In/Out) used at the boundaries: the API and job payloads."""
import marshmallow as ma

# The widest whole number an INTEGER column (every id, count and size) holds.
MAX_INT = 2**31 - 1


class Schema(ma.Schema):
    """The base of every schema here: a whole number a caller sends must fit the database's
    INTEGER columns, so an id or page of 10**30 is a 422 on its field, not an overflow in
    a query (SQLite refuses to bind it; PostgreSQL refuses it as an OFFSET)."""

    @ma.validates_schema
    def _integers_fit(self, data, **kwargs):
        errors = {}
        for name, field in self.load_fields.items():
            value = data.get(field.attribute or name)
            if isinstance(field, ma.fields.Integer) and isinstance(value, int) \
                    and not -MAX_INT <= value <= MAX_INT:
                errors[field.data_key or name] = [f"Must be between {-MAX_INT} and {MAX_INT}."]
        if errors:
            raise ma.ValidationError(errors)


class PageArgs(Schema):
    """?page=&per_page= of every paginated list (a list's filters derive from it)."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=200))
