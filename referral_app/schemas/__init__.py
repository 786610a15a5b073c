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
        for attribute, key in self._integer_fields():
            value = data.get(attribute)
            if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
                errors[key] = [f"Must be between {-MAX_INT} and {MAX_INT}."]
        if errors:
            raise ma.ValidationError(errors)

    def _integer_fields(self) -> list:
        """(attribute, data key) of the Integer fields, found once per schema (every load
        asked again: a tenth of loading a referral, bench session 10)."""
        found = self.__dict__.get("_integers")
        if found is None:
            found = self._integers = [
                (field.attribute or name, field.data_key or name)
                for name, field in self.load_fields.items()
                if isinstance(field, ma.fields.Integer)]
        return found


class PageArgs(Schema):
    """?page=&per_page= of every paginated list (a list's filters derive from it)."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=200))
