"""QuickBooks Items: the fields, the rules a write must pass, create, full
and sparse update, and the JSON an answer shows.

The rules are those of Intuit's Item reference and the XSD (Finance.xsd,
complexType Item); where Intuit is silent the simulator picks the stricter
reading, so that the module is tested against the harder case:
  - names are unique case-insensitively across ALL items, inactive ones too;
  - a name has 1-100 characters (code points), no tab, new line or colon;
  - Service needs IncomeAccountRef and ExpenseAccountRef, NonInventory
    ExpenseAccountRef, Inventory both plus AssetAccountRef, QtyOnHand and
    InvStartDate;
  - a full update sets every writable field it omits to null (or its
    default), a sparse one changes only the fields it names.
The store is not locked: its owner (SimState) holds the lock.
"""

import copy
from decimal import Decimal

import sim_wire


# Every element of the XSD's Item and its IntuitEntity base, plus the
# attributes JSON shows as members; anything else is refused with 2010,
# as QuickBooks' deserialiser refuses an unknown property.
XSD_FIELDS = frozenset("""
    Id SyncToken MetaData CustomField AttachableRef domain status sparse
    Name Sku Description Active SubItem ParentRef Level FullyQualifiedName
    Taxable SalesTaxIncluded PercentBased UnitPrice RatePercent Type
    PaymentMethodRef UOMSetRef IncomeAccountRef PurchaseDesc
    PurchaseTaxIncluded PurchaseCost ExpenseAccountRef COGSAccountRef
    AssetAccountRef PrefVendorRef AvgCost TrackQtyOnHand QtyOnHand
    QtyOnPurchaseOrder QtyOnSalesOrder ReorderPoint ManPartNum
    DepositToAccountRef SalesTaxCodeRef PurchaseTaxCodeRef InvStartDate
    BuildPoint PrintGroupedItems SpecialItem SpecialItemType
    ItemGroupDetail ItemAssemblyDetail AbatementRate ReverseChargeRate
    ServiceType ItemCategoryType ItemEx TaxClassificationRef UQCDisplayText
    UQCId ClassRef Source DeferredRevenue
""".split())

READ_ONLY = frozenset("""
    Id SyncToken MetaData domain status sparse FullyQualifiedName Level
    AvgCost QtyOnPurchaseOrder QtyOnSalesOrder
""".split())

# The order answers list fields in (close to the recorded answers); other
# stored fields follow.
SHOWN_ORDER = (
    "Id", "SyncToken", "Name", "Sku", "Description", "Active",
    "FullyQualifiedName", "Type", "IncomeAccountRef", "ExpenseAccountRef",
    "AssetAccountRef", "UnitPrice", "PurchaseDesc", "PurchaseCost",
    "Taxable", "SalesTaxIncluded", "TrackQtyOnHand", "QtyOnHand",
    "InvStartDate")

# What a created item, or a full update omitting the field, gets.
DEFAULTS = {"Active": True, "UnitPrice": 0, "PurchaseCost": 0,
            "Taxable": False, "TrackQtyOnHand": False}

TYPES = ("Service", "NonInventory", "Inventory")
REQUIRED_BY_TYPE = {
    "Service": ("IncomeAccountRef", "ExpenseAccountRef"),
    "NonInventory": ("ExpenseAccountRef",),
    "Inventory": ("IncomeAccountRef", "ExpenseAccountRef",
                  "AssetAccountRef", "QtyOnHand", "InvStartDate"),
}
TEXT_LIMITS = (("Name", 100), ("Sku", 100), ("Description", 4000),
               ("PurchaseDesc", 1000))
FORBIDDEN_IN_NAME = "\t\n\r:"

# What /_sim/items fills in when a seeded item leaves it out.
SEED_DEFAULTS = {
    "Type": "Service",
    "IncomeAccountRef": {"name": "Services", "value": "1"},
    "ExpenseAccountRef": {"name": "Cost of Goods Sold", "value": "80"},
}


def name_key(name):
    """How names compare: QuickBooks treats names case-insensitively."""
    return name.lower()


class ItemStore:
    """The company's items by Id, with an index of names for the
    uniqueness rule and for the query planner's one shortcut."""

    def __init__(self):
        self.items = {}             # by Id, kept in Id order
        self.by_name = {}           # name_key(Name) -> Id
        self.by_sku = {}            # Sku.lower() -> set of Ids
        self.next_id = 1

    # --- reading ---------------------------------------------------------

    def get(self, item_id):
        return self.items.get(str(item_id))

    def sorted_items(self):
        return list(self.items.values())

    def candidates(self, query):
        """Items a query can match: found through an index when it asks
        for Names, Skus or Ids (= or in: the sync's and the batch's
        queries all do), else all; in Id order, as a full scan gives."""
        for field, op, values in query.conditions:
            if op not in ("=", "in"):
                continue
            if field == "Name":
                ids = {self.by_name.get(name_key(value)) for value in values}
            elif field == "Sku":
                ids = set()
                for value in values:
                    ids.update(self.by_sku.get(value.lower(), ()))
            elif field == "Id":
                ids = {str(int(value)) for value in values if value.isdigit()}
            else:
                continue
            return [self.items[item_id]
                    for item_id in sorted((i for i in ids if i), key=int)
                    if item_id in self.items]
        return self.sorted_items()

    # --- writing ---------------------------------------------------------

    def create(self, body, now):
        _refuse_unknown_fields(body)
        item = dict(DEFAULTS)
        item.update(_writable(body))
        return self._insert(item, self._take_id(), "0", now)

    def update(self, body, now):
        _refuse_unknown_fields(body)
        current = self.get(body["Id"])
        if current is None:
            raise sim_wire.object_not_found()
        sync_token = body.get("SyncToken")
        if sync_token is None:
            raise sim_wire.required_missing("SyncToken")
        if str(sync_token) != current["SyncToken"]:
            raise sim_wire.stale_object()
        if body.get("sparse") is True:
            item = {key: value for key, value in current.items()
                    if key not in READ_ONLY}
        else:
            item = dict(DEFAULTS)
        item.update(_writable(body))
        for key, value in DEFAULTS.items():
            if item.get(key) is None:
                item[key] = value
        _validate(item)
        self._check_unique(item["Name"], current["Id"])
        return self._store(item, current["Id"],
                           str(int(current["SyncToken"]) + 1),
                           current["MetaData"]["CreateTime"], now)

    def seed(self, fields, now):
        """Put an item in place as if it had always been there: the
        control API's way to set up a company (inactive items, odd names,
        a given Id or SyncToken)."""
        _refuse_unknown_fields(fields)
        item = dict(DEFAULTS)
        item.update(copy.deepcopy(SEED_DEFAULTS))
        item.update(_writable(fields))
        item_id = str(fields.get("Id") or self._take_id())
        if not item_id.isdigit():
            raise sim_wire.invalid_property("Id", "Ids are numbers")
        if item_id in self.items:
            raise sim_wire.business_validation(
                "an item with Id=%s is already seeded" % item_id, "Id")
        self.next_id = max(self.next_id, int(item_id) + 1)
        created = (fields.get("MetaData") or {}).get("CreateTime", now)
        _validate(item)
        self._check_unique(item["Name"], None)
        return self._store(item, item_id, str(fields.get("SyncToken", "0")),
                           created, now)

    def _take_id(self):
        item_id = str(self.next_id)
        self.next_id += 1
        return item_id

    def _insert(self, item, item_id, sync_token, now):
        _validate(item)
        self._check_unique(item["Name"], None)
        return self._store(item, item_id, sync_token, now, now)

    def _check_unique(self, name, own_id):
        existing = self.by_name.get(name_key(name))
        if existing is not None and existing != own_id:
            raise sim_wire.duplicate_name(existing)

    def _store(self, item, item_id, sync_token, created, now):
        old = self.items.get(item_id)
        if old is not None:
            self._unindex(old)
        item.update({
            "Id": item_id,
            "SyncToken": sync_token,
            "FullyQualifiedName": item["Name"],
            "domain": "QBO",
            "sparse": False,
            "MetaData": {"CreateTime": created, "LastUpdatedTime": now},
        })
        self._add(item)
        return item

    def _add(self, item):
        item_id = item["Id"]
        last_id = next(reversed(self.items), None)
        out_of_order = (item_id not in self.items and last_id is not None
                        and int(item_id) < int(last_id))
        self.items[item_id] = item
        if out_of_order:            # a seeded Id below the others
            self.items = dict(sorted(self.items.items(),
                                     key=lambda pair: int(pair[0])))
        self.by_name[name_key(item["Name"])] = item_id
        if item.get("Sku"):
            self.by_sku.setdefault(item["Sku"].lower(), set()).add(item_id)

    def _unindex(self, item):
        del self.by_name[name_key(item["Name"])]
        if item.get("Sku"):
            self.by_sku[item["Sku"].lower()].discard(item["Id"])

    # --- persistence -------------------------------------------------------

    def dump(self):
        return {"next_id": self.next_id, "items": self.sorted_items()}

    def load(self, saved):
        self.__init__()
        for item in saved.get("items", []):
            self._add(item)
        self.next_id = saved.get("next_id", 1)


# --- views -----------------------------------------------------------------

def shown(item):
    """An item as QuickBooks answers with it: null members left out."""
    view = {key: item[key] for key in SHOWN_ORDER
            if item.get(key) is not None}
    for key, value in item.items():
        if key not in view and value is not None:
            view[key] = value
    return view


def complete(item):
    """An item with every modelled field, nulls included: /_sim/state's
    view, so that a test can tell "absent" from "not looked at"."""
    view = {key: item.get(key) for key in SHOWN_ORDER}
    view.update({key: value for key, value in item.items()
                 if key not in view})
    return view


# --- rules -----------------------------------------------------------------

def _refuse_unknown_fields(body):
    if not isinstance(body, dict):
        raise sim_wire.invalid_property("Item", "an object is required")
    for key in body:
        if key not in XSD_FIELDS:
            raise sim_wire.invalid_property(
                key, 'Unrecognized field "%s" (class '
                'com.intuit.schema.finance.v3.Item), not marked as ignorable'
                % key)


def _writable(body):
    return {key: copy.deepcopy(value) for key, value in body.items()
            if key not in READ_ONLY}


def _is_number(value):
    return (isinstance(value, (int, Decimal))
            and not isinstance(value, bool))


def _has_ref(value):
    if not isinstance(value, dict):
        return False
    ref = value.get("value")
    return isinstance(ref, (str, int)) and str(ref) != ""


def _validate(item):
    """Raise the fault QuickBooks would answer for this item, if any."""
    name = item.get("Name")
    if name is not None and not isinstance(name, str):
        raise sim_wire.invalid_property("Name", "a string is required")
    if name is None or name.strip() == "":
        raise sim_wire.required_missing("Name")
    for field, limit in TEXT_LIMITS:
        value = item.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise sim_wire.invalid_property(field, "a string is required")
        if len(value) > limit:
            raise sim_wire.length_exceeded(field, limit, len(value))
    if any(char in name for char in FORBIDDEN_IN_NAME):
        raise sim_wire.business_validation(
            "Invalid name: a name cannot include tabs, new lines or colons",
            "Name")
    _validate_type(item)
    for field in ("UnitPrice", "PurchaseCost", "QtyOnHand"):
        value = item.get(field)
        if value is not None and not _is_number(value):
            raise sim_wire.invalid_property(field, "a JSON number is "
                                            "required")
    for field in ("Active", "Taxable", "TrackQtyOnHand", "SalesTaxIncluded"):
        value = item.get(field)
        if value is not None and not isinstance(value, bool):
            raise sim_wire.invalid_property(field, "true or false is "
                                            "required")


def _validate_type(item):
    kind = item.get("Type")
    if kind is None:
        raise sim_wire.required_missing("Type")
    if kind not in TYPES:
        raise sim_wire.invalid_property(
            "Type", "the simulator creates Service, NonInventory and "
            "Inventory items only")
    for field in REQUIRED_BY_TYPE[kind]:
        value = item.get(field)
        if field.endswith("Ref"):
            if not _has_ref(value):
                raise sim_wire.required_missing(
                    field, "Required parameter %s.value is missing in the "
                    "request (%s items need it)" % (field, kind))
        elif value is None:
            raise sim_wire.required_missing(field)
