"""The shipped category taxonomy, and the one table that maps other cities' request types onto it.

The taxonomy is the list of categories the shipped rules and model know. A city renames, splits or adds
categories in its rules file; this module only names the defaults and translates the labelled corpora we train
and evaluate on (PublicStuff NYC and Hoboken, Boston Open311, SeeClickFix Newport) into those defaults.

The mapping is a table of `(source, pattern, category)` rows: the first row whose source matches (`*` matches
every source) and whose regular expression is found in the lower-cased request type decides. `None` as the
category drops the row: test entries and types that mix several categories so that no label would be right.
docs/understanding.md prints the table with what each city's types became.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

UNCATEGORISED = "uncategorised"  # what triage gets: no rule fired and the model was not sure enough
CATCH_ALL = "other"  # a category, but "none of the others": it goes to the triage desk too


@dataclass(frozen=True, slots=True)
class TaxonomyCategory:
    slug: str
    label: str


TAXONOMY: tuple[TaxonomyCategory, ...] = (
    TaxonomyCategory("pothole", "Pothole or road surface"),
    TaxonomyCategory("street-light", "Street light out or damaged"),
    TaxonomyCategory("traffic-signal", "Traffic signal"),
    TaxonomyCategory("street-sign", "Street sign or pavement marking"),
    TaxonomyCategory("graffiti", "Graffiti or illegal posters"),
    TaxonomyCategory("missed-collection", "Missed garbage or recycling pickup"),
    TaxonomyCategory("illegal-dumping", "Illegal dumping or bulk items"),
    TaxonomyCategory("litter", "Litter or street cleaning"),
    TaxonomyCategory("abandoned-vehicle", "Abandoned vehicle"),
    TaxonomyCategory("tree", "Tree: fallen, damaged, dead or needing trimming"),
    TaxonomyCategory("water", "Water: main break, leak, hydrant"),
    TaxonomyCategory("sewer", "Sewer, drain or flooding"),
    TaxonomyCategory("sidewalk", "Sidewalk repair"),
    TaxonomyCategory("rodents", "Rodents and pests"),
    TaxonomyCategory("dead-animal", "Dead animal"),
    TaxonomyCategory("noise", "Noise"),
    TaxonomyCategory("snow-ice", "Snow and ice"),
    TaxonomyCategory("parking", "Illegal parking or blocked driveway"),
    TaxonomyCategory("parks", "Parks and playgrounds"),
    TaxonomyCategory("other", "Other"),
)
TAXONOMY_SLUGS: tuple[str, ...] = tuple(c.slug for c in TAXONOMY)

# (source, pattern, category). Order matters: specific patterns first, the catch-alls of each city last.
CATEGORY_MAP: tuple[tuple[str, str, str | None], ...] = (
    # entries that are tests, not reports
    ("*", r"^(test|title|asdfasdf|helloworld|dsr req \d+|n/a)$", None),
    # Boston Open311 (5 types)
    ("boston-open311", r"^abandoned vehicle$", "abandoned-vehicle"),
    ("boston-open311", r"^illegal parking$", "parking"),
    ("boston-open311", r"^sidewalk not shoveled$", "snow-ice"),
    ("boston-open311", r"^unsafe dangerous conditions$", "other"),
    ("boston-open311", r"^other$", "other"),  # the app's catch-all: every topic; see docs before training on it
    # SeeClickFix Newport, RI (16 types)
    ("seeclickfix-newport-ri", r"^roadway or sidewalk issue$", None),  # road and sidewalk in one type
    ("seeclickfix-newport-ri", r"^pothole issue$", "pothole"),
    ("seeclickfix-newport-ri", r"^traffic sign/pavement marking issue$", "street-sign"),
    ("seeclickfix-newport-ri", r"^missed trash or bulky waste collection$", "missed-collection"),
    ("seeclickfix-newport-ri", r"^tree or vegetation issue$", "tree"),
    ("seeclickfix-newport-ri", r"^graffiti issue$", "graffiti"),
    ("seeclickfix-newport-ri", r"^street light issue$", "street-light"),
    ("seeclickfix-newport-ri", r"^snow issue$", "snow-ice"),
    ("seeclickfix-newport-ri", r"^storm drain$", "sewer"),
    ("seeclickfix-newport-ri", r"recreation|playground|public restroom|beach|cliff walk", "parks"),
    ("seeclickfix-newport-ri", r"^(other|thank a city employee)$", "other"),
    # PublicStuff Hoboken (10 types)
    ("publicstuff-hoboken", r"^(benches - parks|landscaping and trees in parks)$", "parks"),
    ("publicstuff-hoboken", r"^trees on sidewalks$", "tree"),
    ("publicstuff-hoboken", r"^abandoned bike$", "abandoned-vehicle"),
    ("publicstuff-hoboken", r"^trash$", "litter"),
    ("publicstuff-hoboken", r"^street cleaning$", "litter"),
    # PublicStuff NYC and any other city: the city's own type names, many typed by residents
    ("*", r"leaking fire hydrant|broken hydrant|open hydrant|water main", "water"),
    (
        "*",
        r"hydrant|illegal parking|illegally park|no parking, standing|parked|blocked driveway"
        r"|blocking .*driveway|illegal driveway|overnight parking|double park",
        "parking",
    ),
    ("*", r"abandon|derelict|without plates|with plates|this car was left", "abandoned-vehicle"),
    ("*", r"noise|loud|honk|\bhorn\b|music|barking|alarms|jack ?hammer|banging|shouting|ice cream truck", "noise"),
    ("*", r"graffiti|postering|defacement|stickers", "graffiti"),
    (
        "*",
        r"street ?light|lamppost|lamp post|streetlight|street light|luminaire|led lense|ped lamp|lights out"
        r"|light dayburning|flood light|bracket arm|base door|wood pole|^1 or 2$|^3 or more$|^lamp",
        "street-light",
    ),
    (
        "*",
        r"traffic (signal|light|loght)|signal light|veh signal|led pedestrian|pedestrian signal|controller"
        r"|mis ?timed lights|school crossing|crossing-indicator",
        "traffic-signal",
    ),
    (
        "*",
        r"st name|^stop$|^one way$|^do not enter$|speed limit|line/marking|signs? missing|missing signs"
        r"|street sign|signage|electronic sign|^bus stop$|metal protruding",
        "street-sign",
    ),
    (
        "*",
        r"pothole|cave-in|failed street repair|rough, pitted|hummock|bulging asphalt|plate condition"
        r"|potholes|road surface|manhole",
        "pothole",
    ),
    (
        "*",
        r"sidewalk repair|sidewalk collapsed|broken sidewalk|uneven sidewalk|dangerous sidewalk"
        r"|sidewalk grating|pedestrian ramp|broken crosswalk",
        "sidewalk",
    ),
    ("*", r"snow|\bice\b|unshoveled|slush|shovel", "snow-ice"),
    ("*", r"\btrees?\b|branch|limb|trunk|roots damaged|weeds|overgrowth|high grass", "tree"),
    ("*", r"dead animal", "dead-animal"),
    ("*", r"rats|rodent|mice|pigeon waste|pest", "rodents"),
    (
        "*",
        r"illegal dumping|dump-out|improper disposal|stop the dump|dumpster|sewage dumped|couch on sidewalk"
        r"|donation (bin|box)|sandy debris",
        "illegal-dumping",
    ),
    ("*", r"missed (collection|pickup|trash|garbage|recycling)", "missed-collection"),
    ("*", r"catch basin|sewer|sewage|puddle in ground|flooding|wastewater|oil spill into basin", "sewer"),
    ("*", r"drinking water|taste/odor|cloudy or milky|clear water|lead kit", "water"),
    (
        "*",
        r"litter|dirty|street cleaning|street sweeping|loose rubbish|garbage|trash|18\" law|canine violation"
        r"|animal waste|receptacle|debris",
        "litter",
    ),
    ("*", r"\bparks?\b|swing|playground", "parks"),
    # what is left of NYC: building, health, police, transit, taxi and the resident-written catch-alls
    ("publicstuff-nyc", r".", "other"),
)


@cache
def _compiled() -> tuple[tuple[str, re.Pattern[str], str | None], ...]:
    return tuple((source, re.compile(pattern), category) for source, pattern, category in CATEGORY_MAP)


def map_source_category(source: str, request_type: str) -> str | None:
    """The taxonomy slug for a city's request type, or None when the row should not be used.

    A value that already is a taxonomy slug is returned unchanged, so labelled files in either vocabulary work.
    """
    name = " ".join(request_type.lower().split())
    if name in TAXONOMY_SLUGS:
        return name
    for row_source, pattern, category in _compiled():
        if row_source in ("*", source) and pattern.search(name):
            return category
    return None
