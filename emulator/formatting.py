"""Message text as Telegram stores it: plain text plus entities.

Telegram never keeps markup: ``parse_mode`` text is parsed into plain text and a list of
entities whose offsets count UTF-16 code units, and malformed markup is a 400 error. Commands,
mentions, hashtags and links are detected on top, as Telegram clients would show them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from .errors import ApiError, bad_request

Entity = dict[str, Any]

# Auto-detection never looks inside entities that already give the span a meaning.
_OPAQUE = frozenset(
    {
        "code",
        "pre",
        "text_link",
        "text_mention",
        "url",
        "mention",
        "bot_command",
        "hashtag",
        "custom_emoji",
        "date_time",
    }
)
_AUTO_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")),
    ("url", re.compile(r"(?<![\w@])(?:https?://|t\.me/)[^\s<>\"]*[^\s<>\".,;:!?)\]'}]")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{4,32}(?!\w)")),
    ("hashtag", re.compile(r"(?<![\w#])#[^\W\d]\w*")),
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render(source: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list[Entity]]:
    """Turn what a bot sent into (plain text, entities), as Telegram stores the message."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        text, found = parse_html(source)
    elif mode == "markdownv2":
        text, found = parse_markdown_v2(source)
    elif mode == "markdown":
        text, found = parse_markdown(source)
    elif mode == "":
        text, found = source, _explicit_entities(entities)
    else:
        raise bad_request("unsupported parse_mode")
    text, found = _strip(text, found)
    return text, sort_entities(found + auto_entities(text, found))


def sort_entities(entities: list[Entity]) -> list[Entity]:
    # Telegram lists entities by offset, an enclosing entity before the ones inside it.
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def auto_entities(text: str, existing: list[Entity] | None = None) -> list[Entity]:
    """Entities Telegram detects by itself: bot commands, URLs, @mentions and #hashtags."""
    taken = [(e["offset"], e["offset"] + e["length"]) for e in existing or [] if e["type"] in _OPAQUE]
    found: list[Entity] = []
    for kind, pattern in _AUTO_PATTERNS:
        for match in pattern.finditer(text):
            start = utf16_len(text[: match.start()])
            end = start + utf16_len(match.group())
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": end - start})
    return found


def _explicit_entities(entities: Any) -> list[Entity]:
    if entities is None:
        return []
    if not isinstance(entities, list) or not all(
        isinstance(e, dict) and isinstance(e.get("offset"), int) and isinstance(e.get("length"), int) for e in entities
    ):
        raise bad_request("can't parse entities JSON object")
    return [dict(e) for e in entities]


def _strip(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    # Telegram drops leading and trailing whitespace of a message; entities move with the text.
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(size, entity["offset"] + entity["length"] - lead)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def _parse_error(source: str, index: int, message: str) -> ApiError:
    byte_offset = len(source[:index].encode("utf-8"))
    return bad_request(f"can't parse entities: {message} at byte offset {byte_offset}")


# --- HTML -------------------------------------------------------------------------------------------

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


# "r" (relative) alone, or an optional weekday, date (short or long) and time (short or long), in that order.
_DATE_TIME_FORMAT = re.compile(r"r|w?[dD]?[tT]?")


class _HtmlEntities(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.parts: list[str] = []
        self.position = 0
        self.stack: list[tuple[str, int, int, Entity | None]] = []
        self.entities: list[Entity] = []

    def _index(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.position += utf16_len(data)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise _parse_error(self.source, self._index(), f'Unsupported start tag "{tag}"')

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        entity: Entity | None
        if tag in _SIMPLE_TAGS:
            entity = {"type": _SIMPLE_TAGS[tag]}
            if tag == "code" and self.stack and self.stack[-1][0] == "pre":
                # <pre><code class="language-x"> is one pre entity with a language, not two entities.
                language = (attributes.get("class") or "").removeprefix("language-")
                outer = self.stack[-1][3]
                if language and outer is not None:
                    outer["language"] = language
                entity = None
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "a":
            href = attributes.get("href") or ""
            entity = {"type": "text_link", "url": href} if href else None
        elif tag == "blockquote":
            entity = {"type": "expandable_blockquote" if "expandable" in attributes else "blockquote"}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id") or ""}
        elif tag == "tg-time":
            entity = self._date_time(attributes)
        else:
            raise _parse_error(self.source, self._index(), f'Unsupported start tag "{tag}"')
        self.stack.append((tag, self.position, self._index(), entity))

    def _date_time(self, attributes: dict[str, str | None]) -> Entity:
        """<tg-time unix="..." format="...">: the moment each reader's app shows in their own zone and language."""
        unix = attributes.get("unix") or ""
        if not unix.isdigit():
            raise _parse_error(self.source, self._index(), "Invalid Unix time specified")
        entity: Entity = {"type": "date_time", "unix_time": int(unix)}
        shown = attributes.get("format")
        if shown:
            if not _DATE_TIME_FORMAT.fullmatch(shown):
                raise _parse_error(self.source, self._index(), "Invalid date and time format specified")
            entity["date_time_format"] = shown
        return entity

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise _parse_error(self.source, self._index(), f'Unexpected end tag "{tag}"')
        open_tag, start, _, entity = self.stack.pop()
        if open_tag != tag:
            raise _parse_error(
                self.source,
                self._index(),
                f'Unmatched end tag, expected "</{open_tag}>", found "</{tag}>"',
            )
        if entity is not None and self.position > start:
            self.entities.append({**entity, "offset": start, "length": self.position - start})


def parse_html(source: str) -> tuple[str, list[Entity]]:
    parser = _HtmlEntities(source)
    parser.feed(source)
    parser.close()
    if parser.stack:
        tag, _, index, _ = parser.stack[-1]
        raise _parse_error(source, index, f'Can\'t find end tag corresponding to start tag "{tag}"')
    return "".join(parser.parts), parser.entities


# --- MarkdownV2 -------------------------------------------------------------------------------------

_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_TOGGLES = {
    "*": ("bold", "Bold"),
    "_": ("italic", "Italic"),
    "__": ("underline", "Underline"),
    "~": ("strikethrough", "Strikethrough"),
    "||": ("spoiler", "Spoiler"),
}


class _Markdown2:
    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.position = 0
        self.entities: list[Entity] = []
        # (marker, utf-16 start, index in source) of every entity still open
        self.stack: list[tuple[str, int, int]] = []
        self.quote_start: int | None = None

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.position += utf16_len(text)

    def add(self, entity: Entity, start: int) -> None:
        if self.position > start:
            self.entities.append({**entity, "offset": start, "length": self.position - start})

    def parse(self) -> tuple[str, list[Entity]]:
        src = self.source
        i = 0
        while i < len(src):
            at_line_start = i == 0 or src[i - 1] == "\n"
            if at_line_start:
                if src[i] == ">":
                    if self.quote_start is None:
                        self.quote_start = self.position
                    i += 1
                    continue
                self._close_quote(trailing_newline=True)
            i = self._step(i)
        self._close_quote(trailing_newline=False)
        if self.stack:
            marker, _, index = self.stack[-1]
            name = "TextUrl" if marker in ("[", "![") else _MD2_TOGGLES[marker][1]
            raise _parse_error(src, index, f"Can't find end of {name} entity")
        return "".join(self.parts), self.entities

    def _close_quote(self, *, trailing_newline: bool) -> None:
        if self.quote_start is None:
            return
        # The quote ends with its last line; the newline after it is not quoted.
        end = self.position - (1 if trailing_newline else 0)
        if end > self.quote_start:
            self.entities.append({"type": "blockquote", "offset": self.quote_start, "length": end - self.quote_start})
        self.quote_start = None

    def _step(self, i: int) -> int:
        src = self.source
        char = src[i]
        if char == "\\":
            if i + 1 >= len(src) or not 1 <= ord(src[i + 1]) <= 126:
                raise _parse_error(src, i, "Character '\\' is reserved and must be escaped with the preceding '\\'")
            self.emit(src[i + 1])
            return i + 2
        if char == "`":
            return self._code(i)
        for marker in ("__", "||", "*", "_", "~"):
            if src.startswith(marker, i):
                self._toggle(marker, i)
                return i + len(marker)
        if src.startswith("![", i):
            self.stack.append(("![", self.position, i))
            return i + 2
        if char == "[":
            self.stack.append(("[", self.position, i))
            return i + 1
        if char == "]" and self.stack and self.stack[-1][0] in ("[", "!["):
            return self._link_end(i)
        if char in _MD2_RESERVED:
            raise _parse_error(src, i, f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        self.emit(char)
        return i + 1

    def _toggle(self, marker: str, i: int) -> None:
        kind = _MD2_TOGGLES[marker][0]
        if not any(open_marker == marker for open_marker, _, _ in self.stack):
            self.stack.append((marker, self.position, i))
            return
        open_marker, start, index = self.stack[-1]
        if open_marker != marker:
            raise _parse_error(self.source, index, "Can't find end of entity: entities must be properly nested")
        self.stack.pop()
        self.add({"type": kind}, start)

    def _scan_until(self, i: int, closing: str, escapable: str) -> tuple[str, int]:
        """Text up to ``closing`` (only ``escapable`` characters may be escaped inside) and its end index."""
        src = self.source
        out: list[str] = []
        while i < len(src):
            if src[i] == "\\" and i + 1 < len(src) and src[i + 1] in escapable:
                out.append(src[i + 1])
                i += 2
            elif src.startswith(closing, i):
                return "".join(out), i
            else:
                out.append(src[i])
                i += 1
        return "".join(out), -1

    def _code(self, i: int) -> int:
        src = self.source
        if src.startswith("```", i):
            body, end = self._scan_until(i + 3, "```", "`\\")
            if end < 0:
                raise _parse_error(src, i, "Can't find end of Pre entity")
            language, newline, rest = body.partition("\n")
            entity: Entity = {"type": "pre"}
            if newline and language and " " not in language:
                entity["language"] = language
                body = rest
            start = self.position
            self.emit(body)
            self.add(entity, start)
            return end + 3
        body, end = self._scan_until(i + 1, "`", "`\\")
        if end < 0:
            raise _parse_error(src, i, "Can't find end of Code entity")
        start = self.position
        self.emit(body)
        self.add({"type": "code"}, start)
        return end + 1

    def _link_end(self, i: int) -> int:
        src = self.source
        marker, start, index = self.stack.pop()
        if not src.startswith("(", i + 1):
            raise _parse_error(src, index, "Can't find end of a URL")
        url, end = self._scan_until(i + 2, ")", ")\\")
        if end < 0:
            raise _parse_error(src, i + 1, "Can't find end of a URL")
        if marker == "![":
            emoji_id = url.partition("id=")[2]
            self.add({"type": "custom_emoji", "custom_emoji_id": emoji_id}, start)
        else:
            self.add({"type": "text_link", "url": url}, start)
        return end + 1


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    return _Markdown2(source).parse()


# --- legacy Markdown --------------------------------------------------------------------------------

_LEGACY_MARKERS = {"*": "bold", "_": "italic"}


def parse_markdown(source: str) -> tuple[str, list[Entity]]:
    """Telegram's legacy Markdown: *bold*, _italic_, `code`, ```pre``` and [text](url), no nesting."""
    parts: list[str] = []
    entities: list[Entity] = []
    position = 0
    i = 0

    def emit(text: str) -> int:
        nonlocal position
        start = position
        parts.append(text)
        position += utf16_len(text)
        return start

    def unclosed(index: int) -> ApiError:
        return _parse_error(source, index, "Can't find end of the entity starting")

    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source) and source[i + 1] in "_*`[":
            emit(source[i + 1])
            i += 2
        elif char in _LEGACY_MARKERS:
            end = source.find(char, i + 1)
            if end < 0:
                raise unclosed(i)
            start = emit(source[i + 1 : end])
            if position > start:
                entities.append({"type": _LEGACY_MARKERS[char], "offset": start, "length": position - start})
            i = end + 1
        elif char == "`":
            fence = "```" if source.startswith("```", i) else "`"
            end = source.find(fence, i + len(fence))
            if end < 0:
                raise unclosed(i)
            start = emit(source[i + len(fence) : end])
            if position > start:
                kind = "pre" if fence == "```" else "code"
                entities.append({"type": kind, "offset": start, "length": position - start})
            i = end + len(fence)
        elif char == "[":
            match = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(source, i)
            if match is None:
                raise unclosed(i)
            start = emit(match.group(1))
            if position > start:
                entities.append(
                    {"type": "text_link", "offset": start, "length": position - start, "url": match.group(2)}
                )
            i = match.end()
        else:
            emit(char)
            i += 1
    return "".join(parts), entities
