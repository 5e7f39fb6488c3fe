"""The prompt studio's catalog: layouts, templates, the visual style system, the two fixed formats and the brand.

All of it is data in the TOML files beside this module; a brand of one's own comes from the file `BRAND_FILE` names.
Everything is read and checked once, at start-up, into frozen dataclasses. A problem names the file and the field, so a
typo stops the app with a clear message instead of quietly producing odd prompts later.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prompts.options import ASPECT_RATIOS

CATALOG_DIR = Path(__file__).parent
DEFAULT_BRAND_FILE = CATALOG_DIR / "brand.toml"

# Picker labels are "<name> · <hint>": Slack shows at most 75 characters of an option's text.
NAME_CHARS = 30
HINT_CHARS = 40
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
LAYOUT_RATIOS = tuple(r for r in ASPECT_RATIOS if r != "auto")  # `auto` means "like the input image"; there is none

# Bounds on the brand, so that every prompt stays within kie's limit whatever the brand file says.
BRAND_NAME_CHARS = 80
BRAND_TEXT_CHARS = 300
BRAND_SHORT_CHARS = 120
BRAND_FONT_CHARS = 100
BRAND_MAX_COLOURS = 8
BRAND_MAX_NEVER = 12
BRAND_NEVER_CHARS = 100

T = TypeVar("T")


class CatalogError(Exception):
    """A catalog or brand file that cannot be used; the message names the file and every field at fault."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        if len(problems) == 1:
            message = f"{path}: {problems[0]}"
        else:
            message = f"{path} has {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
        super().__init__(message)


@dataclass(frozen=True)
class Layout:
    id: str
    name: str
    hint: str
    suits: str
    composition: str
    aspect_ratio: str  # the shape it suits best, offered first when generating
    group: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} · {self.hint}"


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    hint: str
    goal: str
    sections: tuple[str, ...]
    guidance: str  # how the user's key points are used
    layouts: tuple[str, ...]  # layout ids that suit it; the first is used when none is picked

    @property
    def label(self) -> str:
        return f"{self.name} · {self.hint}"


@dataclass(frozen=True)
class Typography:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Illustration:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class StylePreset:
    id: str
    name: str
    hint: str
    mood: str
    typography: Typography
    illustration: Illustration

    @property
    def label(self) -> str:
        return f"{self.name} · {self.hint}"


@dataclass(frozen=True)
class Palette:
    id: str
    name: str
    hint: str
    usage: str
    colours: tuple[str, ...]  # added to the brand's own

    @property
    def label(self) -> str:
        return f"{self.name} · {self.hint}"


@dataclass(frozen=True)
class Density:
    id: str
    name: str
    hint: str
    description: str

    @property
    def label(self) -> str:
        return f"{self.name} · {self.hint}"


@dataclass(frozen=True)
class Format:
    """A fixed kind of image beside infographics (quote card, career timeline), with layouts of its own."""

    id: str
    name: str
    goal: str
    composition: str
    density: Density
    layouts: dict[str, Layout]

    @property
    def default_layout(self) -> Layout:
        return next(iter(self.layouts.values()))


@dataclass(frozen=True)
class VisualStyle:
    """One choice from each part of the style system."""

    preset: StylePreset
    palette: Palette
    density: Density

    @property
    def summary(self) -> str:
        return f"{self.preset.name} · {self.palette.name} · {self.density.name}"


@dataclass(frozen=True)
class Catalog:
    layouts: dict[str, Layout]
    templates: dict[str, Template]
    styles: dict[str, StylePreset]
    palettes: dict[str, Palette]
    densities: dict[str, Density]
    quote_card: Format
    career_timeline: Format

    def style(self, preset: str | None = None, palette: str | None = None, density: str | None = None) -> VisualStyle:
        """The chosen style; each part left out (or unknown) is the catalog's default, its first entry."""
        return VisualStyle(
            preset=_pick(self.styles, preset),
            palette=_pick(self.palettes, palette),
            density=_pick(self.densities, density),
        )

    def layout_for(self, template: Template, layout: str | None = None) -> Layout:
        """The chosen layout, or the one the template suits best."""
        return self.layouts.get(layout or "") or self.layouts[template.layouts[0]]


def _pick(table: dict[str, T], key: str | None) -> T:
    return table.get(key or "") or next(iter(table.values()))


@dataclass(frozen=True)
class BrandColour:
    role: str  # primary, secondary, accent, background, text, or any word the brand uses
    hex: str

    def __str__(self) -> str:
        return f"{self.role} {self.hex}"


@dataclass(frozen=True)
class Brand:
    name: str
    colours: tuple[BrandColour, ...]  # the first is the main colour
    heading_font: str
    body_font: str
    tone: str
    logo: str = ""
    logo_placement: str = ""
    never: tuple[str, ...] = ()  # each becomes a "Do not include" instruction
    source: Path = DEFAULT_BRAND_FILE
    # A workspace's brand kit may hold images (stored by their sha256, BrandImage): the logo and style references,
    # sent to kie with the prompts of the surfaces `references` names: "studio" or "all".
    logo_image: str = ""
    style_images: tuple[str, ...] = ()
    references: str = "studio"

    @property
    def hexes(self) -> tuple[str, ...]:
        return tuple(c.hex for c in self.colours)


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Read and check every catalog file; raises CatalogError naming the first file at fault and its fields."""
    layouts = _read(directory / "layouts.toml", _layouts)
    templates = _read(directory / "templates.toml", lambda data: _templates(data, layouts))
    styles, palettes, densities = _read(directory / "styles.toml", _styles)
    quote_card, career_timeline = _read(directory / "formats.toml", lambda data: _formats(data, densities))
    return Catalog(
        layouts=layouts,
        templates=templates,
        styles=styles,
        palettes=palettes,
        densities=densities,
        quote_card=quote_card,
        career_timeline=career_timeline,
    )


def load_brand(path: Path | None = None) -> Brand:
    """The brand in `path` (the BRAND_FILE setting), or the default brand; raises CatalogError naming the field."""
    path = path or DEFAULT_BRAND_FILE
    return _read(path, lambda data: _brand(data, path))


def check_brand(data: Mapping[str, Any], source: Path = DEFAULT_BRAND_FILE) -> tuple[Brand, dict[str, str]]:
    """A brand's fields by the one set of rules a BRAND_FILE is read by (a workspace's brand kit has the same keys:
    name, tone, logo, logo_placement, never, colours {role: "#RRGGBB"}, fonts {headings, body}). The brand, and each
    problem by its field's dotted name ("colours.primary", "never[2]"); with problems, the brand is not to be used."""
    problems: list[str] = []
    brand = _brand(_Fields(dict(data), "", problems), source)
    found: dict[str, str] = {}
    for problem in problems:
        field, _, message = problem.partition(": ")
        found.setdefault(field, message)
    return brand, found


def brand_fields(brand: Brand) -> dict[str, Any]:
    """A brand's fields as a brand file has them: what `check_brand` reads back into the same brand."""
    fields: dict[str, Any] = {
        "name": brand.name,
        "tone": brand.tone,
        "colours": {c.role.replace(" ", "_"): c.hex for c in brand.colours},
        "fonts": {"headings": brand.heading_font, "body": brand.body_font},
    }
    optional = {"logo": brand.logo, "logo_placement": brand.logo_placement, "never": list(brand.never)}
    return fields | {key: value for key, value in optional.items() if value}


# ---------------------------------------------------------------------------------------------------------- reading


class _Fields:
    """One TOML table being read. Each problem is recorded with the field's dotted name, and reading goes on, so a
    file's problems are all reported at once; the values returned for a bad field are placeholders."""

    def __init__(self, data: dict[str, Any], where: str, problems: list[str]) -> None:
        self.data = data
        self.where = where
        self.problems = problems
        self._read: set[str] = set()

    def name_of(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.name_of(key)}: {message}")

    def raw(self, key: str, *, required: bool = True) -> Any:
        self._read.add(key)
        if key not in self.data:
            if required:
                self.problem(key, "is missing")
            return None
        return self.data[key]

    def text(self, key: str, limit: int, *, required: bool = True) -> str:
        value = self.raw(key, required=required)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.problem(key, f"must be text, got {_shown(value)}")
            return ""
        if required and not value.strip():
            self.problem(key, "is empty")
            return ""
        value = " ".join(value.split())  # line breaks in a TOML string must not break the prompt's layout
        if len(value) > limit:
            self.problem(key, f"must be at most {limit} characters, it has {len(value)}")
        return value

    def texts(self, key: str, limit: int, *, most: int, required: bool = True) -> tuple[str, ...]:
        value = self.raw(key, required=required)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(key, f'must be a list of text, such as ["one", "two"], got {_shown(value)}')
            return ()
        if len(value) > most:
            self.problem(key, f"must have at most {most} entries, it has {len(value)}")
        found = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{key}[{index}]", f"must be text, got {_shown(item)}")
            elif len(item) > limit:
                self.problem(f"{key}[{index}]", f"must be at most {limit} characters, it has {len(item)}")
            else:
                found.append(" ".join(item.split()))
        return tuple(found)

    def choice(self, key: str, allowed: tuple[str, ...] | dict[str, Any], what: str) -> str:
        value = self.raw(key)
        if value is None:
            return ""
        if not isinstance(value, str) or value not in allowed:
            self.problem(key, f"must be one of the {what}: {', '.join(allowed)}; got {_shown(value)}")
            return ""
        return value

    def table(self, key: str, *, required: bool = True) -> _Fields:
        value = self.raw(key, required=required)
        if value is not None and not isinstance(value, dict):
            self.problem(key, f"must be a table ([{self.name_of(key)}]), got {_shown(value)}")
            value = None
        return _Fields(value or {}, self.name_of(key), self.problems)

    def entries(self, key: str | None = None) -> Iterator[tuple[str, _Fields]]:
        """The sub-tables keyed by id (all of this table's, or those under `key`), in file order."""
        fields = self.table(key) if key else self
        if not fields.data and (key is None or key in self.data):
            self.problems.append(f"{fields.where}: has no entries" if fields.where else "the file has no entries")
        for entry_id, value in fields.data.items():
            fields._read.add(entry_id)
            if not ID_PATTERN.match(entry_id):
                fields.problem(entry_id, "ids are lower case letters, digits and underscores, at most 40 characters")
            if not isinstance(value, dict):
                fields.problem(entry_id, f"must be a table ([{fields.name_of(entry_id)}]), got {_shown(value)}")
                continue
            yield entry_id, _Fields(value, fields.name_of(entry_id), self.problems)

    def done(self, top_level: tuple[str, ...] = ()) -> None:
        """Unknown fields are reported with the nearest known name: a typo should not silently drop a setting."""
        for key in self.data:
            if key in self._read:
                continue
            if key in top_level:
                self.problem(key, _MISPLACED)
                continue
            near = difflib.get_close_matches(key, sorted(self._read), n=1)
            self.problem(key, f"is not a known field{f' (did you mean {near[0]!r}?)' if near else ''}")


_MISPLACED = "belongs at the top of the file: in TOML, every key after a [table] line belongs to that table"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read(path: Path, parse: Callable[[_Fields], T]) -> T:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(path, ["the file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError(path, [f"cannot be read ({error})"]) from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(path, [f"is not valid TOML: {error}"]) from None
    problems: list[str] = []
    result = parse(_Fields(data, "", problems))
    if problems:
        raise CatalogError(path, problems)
    return result


def _layout(entry_id: str, fields: _Fields, *, grouped: bool) -> Layout:
    layout = Layout(
        id=entry_id,
        name=fields.text("name", NAME_CHARS),
        group=fields.text("group", NAME_CHARS) if grouped else "",
        hint=fields.text("hint", HINT_CHARS),
        suits=fields.text("suits", 300),
        composition=fields.text("composition", 700),
        aspect_ratio=fields.choice("aspect_ratio", LAYOUT_RATIOS, "aspect ratios kie offers"),
    )
    fields.done()
    return layout


def _layouts(data: _Fields) -> dict[str, Layout]:
    return {entry_id: _layout(entry_id, fields, grouped=True) for entry_id, fields in data.entries()}


def _templates(data: _Fields, layouts: dict[str, Layout]) -> dict[str, Template]:
    templates = {}
    for entry_id, fields in data.entries():
        suited = fields.texts("layouts", 40, most=10)
        if not suited and "layouts" in fields.data:
            fields.problem("layouts", "must name at least one layout")
        for index, layout_id in enumerate(suited):
            if layout_id not in layouts:
                fields.problem(f"layouts[{index}]", f"{layout_id!r} is not a layout in layouts.toml")
        templates[entry_id] = Template(
            id=entry_id,
            name=fields.text("name", NAME_CHARS),
            hint=fields.text("hint", HINT_CHARS),
            goal=fields.text("goal", 300),
            sections=fields.texts("sections", 200, most=8),
            guidance=fields.text("guidance", 300),
            layouts=tuple(layout_id for layout_id in suited if layout_id in layouts) or tuple(layouts)[:1],
        )
        fields.done()
    return templates


def _styles(data: _Fields) -> tuple[dict[str, StylePreset], dict[str, Palette], dict[str, Density]]:
    typography = {}
    for entry_id, fields in data.entries("typography"):
        typography[entry_id] = Typography(entry_id, fields.text("name", NAME_CHARS), fields.text("description", 200))
        fields.done()
    illustrations = {}
    for entry_id, fields in data.entries("illustrations"):
        illustrations[entry_id] = Illustration(
            entry_id, fields.text("name", NAME_CHARS), fields.text("description", 200)
        )
        fields.done()
    styles = {}
    for entry_id, fields in data.entries("styles"):
        styles[entry_id] = StylePreset(
            id=entry_id,
            name=fields.text("name", NAME_CHARS),
            hint=fields.text("hint", HINT_CHARS),
            mood=fields.text("mood", 300),
            typography=typography.get(fields.choice("typography", typography, "typography ids")) or _UNKNOWN_TYPE,
            illustration=illustrations.get(fields.choice("illustration", illustrations, "illustration ids"))
            or _UNKNOWN_ILLUSTRATION,
        )
        fields.done()
    palettes = {}
    for entry_id, fields in data.entries("palettes"):
        colours = fields.texts("colours", 40, most=6)
        for index, colour in enumerate(colours):
            if not HEX_COLOUR.match(colour):
                fields.problem(f"colours[{index}]", f'must be a hex colour such as "#1A2B3C", got {colour!r}')
        palettes[entry_id] = Palette(
            id=entry_id,
            name=fields.text("name", NAME_CHARS),
            hint=fields.text("hint", HINT_CHARS),
            usage=fields.text("usage", 300),
            colours=tuple(c.upper() for c in colours),
        )
        fields.done()
    densities = {}
    for entry_id, fields in data.entries("densities"):
        densities[entry_id] = Density(
            id=entry_id,
            name=fields.text("name", NAME_CHARS),
            hint=fields.text("hint", HINT_CHARS),
            description=fields.text("description", 300),
        )
        fields.done()
    data.done()
    return styles, palettes, densities


_UNKNOWN_TYPE = Typography("", "", "")  # placeholders while a file with problems is read to its end
_UNKNOWN_ILLUSTRATION = Illustration("", "", "")
_UNKNOWN_DENSITY = Density("", "", "", "")


def _formats(data: _Fields, densities: dict[str, Density]) -> tuple[Format, Format]:
    def one(key: str) -> Format:
        fields = data.table(key)
        layouts = {entry_id: _layout(entry_id, layout, grouped=False) for entry_id, layout in fields.entries("layouts")}
        found = Format(
            id=key,
            name=fields.text("name", NAME_CHARS),
            goal=fields.text("goal", 300),
            composition=fields.text("composition", 700),
            density=densities.get(fields.choice("density", densities, "density ids in styles.toml"))
            or _UNKNOWN_DENSITY,
            layouts=layouts,
        )
        fields.done()
        return found

    formats = one("quote_card"), one("career_timeline")
    data.done()
    return formats


_BRAND_KEYS = ("name", "tone", "logo", "logo_placement", "never", "colours", "fonts")


def _brand(data: _Fields, path: Path) -> Brand:
    colours_table = data.table("colours")
    colours = []
    for role, value in colours_table.data.items():
        colours_table._read.add(role)
        if role in _BRAND_KEYS:
            colours_table.problem(role, _MISPLACED)
            continue
        if not isinstance(value, str) or not HEX_COLOUR.match(value.strip()):
            colours_table.problem(role, f'must be a hex colour such as "#1A2B3C", got {_shown(value)}')
            continue
        colours.append(BrandColour(role=role.replace("_", " "), hex=value.strip().upper()))
    if "colours" in data.data and not colours_table.data:
        data.problem("colours", 'needs at least one colour, such as primary = "#1A2B3C"')
    if len(colours_table.data) > BRAND_MAX_COLOURS:
        data.problem("colours", f"must have at most {BRAND_MAX_COLOURS} colours, it has {len(colours_table.data)}")
    fonts = data.table("fonts")
    brand = Brand(
        name=data.text("name", BRAND_NAME_CHARS),
        tone=data.text("tone", BRAND_TEXT_CHARS),
        logo=data.text("logo", BRAND_TEXT_CHARS, required=False),
        logo_placement=data.text("logo_placement", BRAND_SHORT_CHARS, required=False),
        never=data.texts("never", BRAND_NEVER_CHARS, most=BRAND_MAX_NEVER, required=False),
        colours=tuple(colours),
        heading_font=fonts.text("headings", BRAND_FONT_CHARS),
        body_font=fonts.text("body", BRAND_FONT_CHARS),
        source=path,
    )
    fonts.done(top_level=_BRAND_KEYS)
    colours_table.done()
    data.done()
    return brand
