"""Reading report pages in tests: tables by their data-table key, JSON chart blocks, scripts."""
import csv
import io
import json
from html.parser import HTMLParser


class ReportPage(HTMLParser):
    """Collects each <table data-table=KEY> as (headers, rows) and every <script>."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, tuple[list, list]] = {}
        self.scripts: list[tuple[dict, str]] = []
        self.styled = 0
        self._table = self._row = self._cell = self._script = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs:
            self.styled += 1
        if tag == "table" and "data-table" in attrs:
            self._table = self.tables.setdefault(attrs["data-table"], ([], []))
        elif self._table is not None and tag == "tr":
            self._row = None if attrs.get("data-empty") else []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self._script = (attrs, [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            headers, rows = self._table
            if not headers:
                headers.extend(self._row)
            else:
                rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self._script[1].append(data)

    def chart(self, key: str) -> dict:
        for attrs, body in self.scripts:
            if attrs.get("id") == f"chart-{key}":
                assert attrs.get("type") == "application/json"
                return json.loads(body)
        raise KeyError(key)


def read_csv(data: bytes) -> tuple[list, list]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return rows[0], rows[1:]
