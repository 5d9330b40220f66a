"""The subset of QuickBooks' query language the sync needs, for Item only.

    SELECT * | COUNT(*) FROM Item
        [WHERE <cond> [AND <cond>]*]
        [ORDERBY <field> [ASC|DESC] [, ...]]
        [STARTPOSITION n] [MAXRESULTS n]

    <cond> := <field> = <value>
            | <field> IN (<value> [, <value>]*)
            | <field> LIKE '<pattern with %>'
            | <field> < | > | <= | >= <value>

As in QuickBooks ("Query operations and syntax"): keywords, the entity,
attribute names and attribute values are case-insensitive; strings are in
single quotes with backslash escapes (\\' and \\\\); only AND combines
conditions; STARTPOSITION is 1-based; MAXRESULTS defaults to 100 and may
not exceed 1000; inactive items are left out unless the query names Active.
"""

import re
from decimal import Decimal, InvalidOperation

import sim_wire


DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000

# canonical spelling of the queryable Item attributes, by lowercase name
FIELDS = {name.lower(): name for name in (
    "Id", "Name", "Sku", "Active", "Type", "FullyQualifiedName",
    "Description", "UnitPrice", "Taxable", "SyncToken",
    "MetaData.CreateTime", "MetaData.LastUpdatedTime")}
BOOLEAN_FIELDS = {"Active", "Taxable"}
NUMERIC_FIELDS = {"Id", "UnitPrice", "SyncToken"}

_TOKEN = re.compile(r"""
    (?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<op><=|>=|[=<>(),*])
    )""", re.VERBOSE | re.DOTALL)


class Query:
    """A parsed statement; run() applies it to a list of items."""

    def __init__(self):
        self.count = False
        self.conditions = []            # (field, op, [values])
        self.order = []                 # (field, descending)
        self.start_position = 1
        self.max_results = DEFAULT_MAX_RESULTS

    def names_active(self):
        return any(field == "Active" for field, _, _ in self.conditions)

    @staticmethod
    def matches(item, include_inactive, tests):
        if not include_inactive and item.get("Active") is False:
            return False
        return all(_condition_holds(item, *test) for test in tests)

    def run(self, items):
        """Return the QueryResponse object for these items (in Id order)."""
        include_inactive = self.names_active()
        tests = [(field, op, [_comparable(field, value) for value in values],
                  values) for field, op, values in self.conditions]
        found = [item for item in items
                 if self.matches(item, include_inactive, tests)]
        if self.count:
            return {"totalCount": len(found)}
        for field, descending in reversed(self.order):
            found.sort(key=lambda item: _sort_key(item, field),
                       reverse=descending)
        first = self.start_position - 1
        page = found[first:first + self.max_results]
        if not page:
            return {}
        return {"Item": page, "startPosition": self.start_position,
                "maxResults": len(page)}


def parse(statement):
    """Parse a statement or raise sim_wire.QboFault (4000 for syntax,
    4001 for a well-formed query QuickBooks would refuse)."""
    return _Parser(statement).parse()


# --- tokens ----------------------------------------------------------------

class _Token:
    __slots__ = ("kind", "text", "column")

    def __init__(self, kind, text, column):
        self.kind = kind
        self.text = text
        self.column = column

    def is_word(self, *words):
        return self.kind == "word" and self.text.lower() in words


def _tokenize(statement):
    tokens = []
    position = 0
    while True:
        while position < len(statement) and statement[position].isspace():
            position += 1
        if position == len(statement):
            break
        found = _TOKEN.match(statement, position)
        if not found:
            raise sim_wire.query_parser_error(
                'Lexical error at line 1, column %d.  Encountered: "%s"'
                % (position + 1, statement[position]))
        kind = found.lastgroup
        tokens.append(_Token(kind, found.group(kind), position + 1))
        position = found.end()
    tokens.append(_Token("end", "<EOF>", len(statement) + 1))
    return tokens


def _unquote(text):
    """'Adam\\'s' -> Adam's: a backslash keeps the character after it."""
    return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)


# --- parser ----------------------------------------------------------------

class _Parser:

    def __init__(self, statement):
        self.tokens = _tokenize(statement)
        self.position = 0
        self.query = Query()

    def peek(self):
        return self.tokens[self.position]

    def take(self):
        token = self.tokens[self.position]
        self.position += 1
        return token

    def fail(self, token=None):
        token = token or self.peek()
        raise sim_wire.query_parser_error(
            'Encountered " <%s> "%s "" at line 1, column %d.'
            % (token.kind.upper(), token.text, token.column))

    def expect_word(self, *words):
        token = self.take()
        if not token.is_word(*words):
            self.fail(token)
        return token

    def expect_op(self, op):
        token = self.take()
        if token.kind != "op" or token.text != op:
            self.fail(token)

    def parse(self):
        self.expect_word("select")
        self.parse_projection()
        self.expect_word("from")
        entity = self.take()
        if entity.kind != "word":
            self.fail(entity)
        if entity.text.lower() != "item":
            raise sim_wire.query_validation_error(
                "Entity %s is not supported by the simulator (Item only)"
                % entity.text)
        if self.peek().is_word("where"):
            self.take()
            self.parse_conditions()
        if self.peek().is_word("orderby", "order"):
            self.parse_order()
        self.parse_paging()
        if self.peek().kind != "end":
            self.fail()
        return self.query

    def parse_projection(self):
        token = self.take()
        if token.kind == "op" and token.text == "*":
            return
        if token.is_word("count"):
            self.expect_op("(")
            self.expect_op("*")
            self.expect_op(")")
            self.query.count = True
            return
        self.fail(token)

    def parse_conditions(self):
        while True:
            self.query.conditions.append(self.parse_condition())
            if not self.peek().is_word("and"):
                return
            self.take()

    def parse_field(self):
        token = self.take()
        if token.kind != "word":
            self.fail(token)
        field = FIELDS.get(token.text.lower())
        if field is None:
            raise sim_wire.query_validation_error(
                "property '%s' is not queryable" % token.text)
        return field

    def parse_condition(self):
        field = self.parse_field()
        token = self.take()
        if token.is_word("in"):
            self.expect_op("(")
            values = [self.parse_value(field)]
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                values.append(self.parse_value(field))
            self.expect_op(")")
            return field, "in", values
        if token.is_word("like"):
            value = self.take()
            if value.kind != "string":
                self.fail(value)
            return field, "like", [_unquote(value.text)]
        if token.kind == "op" and token.text in ("=", "<", ">", "<=", ">="):
            return field, token.text, [self.parse_value(field)]
        self.fail(token)

    def parse_value(self, field):
        token = self.take()
        if token.kind == "string":
            text = _unquote(token.text)
        elif token.kind in ("number", "word"):
            text = token.text
        else:
            self.fail(token)
        if field in BOOLEAN_FIELDS:
            if text.lower() not in ("true", "false"):
                raise sim_wire.query_validation_error(
                    "value %s is not a boolean for %s" % (text, field))
            return text.lower() == "true"
        if token.kind == "word" and field not in BOOLEAN_FIELDS:
            self.fail(token)
        return text

    def parse_order(self):
        if self.take().is_word("order"):
            self.expect_word("by")
        while True:
            field = self.parse_field()
            descending = False
            if self.peek().is_word("asc", "desc"):
                descending = self.take().text.lower() == "desc"
            self.query.order.append((field, descending))
            if not (self.peek().kind == "op" and self.peek().text == ","):
                return
            self.take()

    def parse_paging(self):
        while self.peek().is_word("startposition", "maxresults"):
            keyword = self.take().text.lower()
            token = self.take()
            if token.kind != "number" or not token.text.isdigit():
                self.fail(token)
            value = int(token.text)
            if keyword == "maxresults":
                if value > MAX_RESULTS_LIMIT:
                    raise sim_wire.query_validation_error(
                        "value %d is too large. Max allowed value is %d"
                        % (value, MAX_RESULTS_LIMIT))
                if value < 1:
                    raise sim_wire.query_validation_error(
                        "MAXRESULTS must be at least 1")
                self.query.max_results = value
            else:
                if value < 1:
                    raise sim_wire.query_validation_error(
                        "STARTPOSITION must be at least 1")
                self.query.start_position = value


# --- evaluation ------------------------------------------------------------

def _field_value(item, field):
    if field.startswith("MetaData."):
        return (item.get("MetaData") or {}).get(field.split(".", 1)[1])
    return item.get(field)


def _number(value):
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _comparable(field, value):
    """Lowercase text, exact numbers, plain booleans: what QuickBooks
    compares, since attribute values are case-insensitive."""
    if value is None:
        return None
    if field in BOOLEAN_FIELDS:
        return bool(value)
    if field in NUMERIC_FIELDS:
        return _number(value)
    return str(value).lower()


def _like(text, pattern):
    parts = [re.escape(part) for part in pattern.lower().split("%")]
    return re.fullmatch(".*".join(parts), text, re.DOTALL) is not None


def _condition_holds(item, field, op, wanted, values):
    actual = _comparable(field, _field_value(item, field))
    if actual is None:
        return False
    if op in ("=", "in"):
        return actual in wanted
    if op == "like":
        return _like(str(actual), values[0])
    if wanted[0] is None:
        return False
    return {"<": actual < wanted[0], ">": actual > wanted[0],
            "<=": actual <= wanted[0], ">=": actual >= wanted[0]}[op]


def _sort_key(item, field):
    value = _comparable(field, _field_value(item, field))
    return (value is None, value if value is not None else 0)
