"""The stylesheet's colours meet WCAG 2.1 AA: 4.5:1 for text, 3:1 for the bars, underlines and focus rings that
carry meaning (success criteria 1.4.3 and 1.4.11). Read from service/web/static/app.css itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "service" / "web" / "static" / "app.css").read_text()
COLOURS = dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour(name: str) -> str:
    return COLOURS.get(name, name)


TEXT = [("ink", "paper"), ("muted", "paper"), ("muted", "wash"), ("link", "paper"), ("link", "wash"),
        ("#ffffff", "brand"), ("#dbe6f3", "brand"), ("#ffffff", "link"), ("#ffffff", "#084a8c"), ("error", "paper"),
        ("#6b1115", "error-wash"), ("#ffffff", "ink"), ("ink", "current"), ("#1e6b34", "paper"), ("#8a4b00", "paper"),
        ("ink", "#fcfcfd"), ("link", "#e4eefa")] + [("ink", f"s{n}-tint") for n in range(5)]
GRAPHICS = [(f"s{n}", "paper") for n in range(5)] + [(f"s{n}", f"s{n}-tint") for n in range(5)] + [
    ("focus", "paper"), ("current-line", "current"), ("#5f6b7a", "paper"), ("#767676", "paper")]


@pytest.mark.parametrize("foreground, background", TEXT)
def test_web_style_text_contrast_is_at_least_4_5(foreground, background):
    assert contrast(colour(foreground), colour(background)) >= 4.5


@pytest.mark.parametrize("foreground, background", GRAPHICS)
def test_web_style_meaningful_graphics_contrast_is_at_least_3(foreground, background):
    assert contrast(colour(foreground), colour(background)) >= 3


def test_web_style_each_label_has_a_pattern_besides_its_colour():
    patterns = re.findall(r"\.s(\d) \{[^}]*--pattern: (\w+);", CSS)
    assert sorted(patterns) == [(str(n), p) for n, p in enumerate(["solid", "dashed", "dotted", "double", "wavy"])]
