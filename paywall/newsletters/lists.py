"""The ten free newsletters. Slugs are part of the public contract."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Newsletter:
    slug: str
    name: str
    description: str
    cadence: str


_ALL = [
    ("takeaway", "The Takeaway", "The one story that matters most today, and why.", "Weekdays"),
    ("middle-east-minute", "Middle East Minute",
     "The region's news in a minute, before your first meeting.", "Weekdays at 7:00 GST"),
    ("daily-briefing", "Daily Briefing",
     "Politics, markets and business across the region, in ten items.", "Daily"),
    ("business-tech", "Business & Tech",
     "Deals, start-ups and the technology reshaping regional business.", "Tuesdays"),
    ("security", "Security", "Conflicts, defence and the risks that move markets.", "Wednesdays"),
    ("gulf", "Gulf", "Saudi Arabia, the UAE, Qatar, Kuwait, Bahrain and Oman.",
     "Weekly on Thursdays"),
    ("israel", "Israel", "Politics, economy and technology in Israel.", "Weekly on Sundays"),
    ("palestine", "Palestine", "Politics, economy and daily life in Palestine.",
     "Weekly on Mondays"),
    ("turkey", "Turkey", "Turkish politics, the lira and the economy.", "Weekly on Fridays"),
    ("iraq", "Iraq", "Iraq's politics, oil and reconstruction.", "Weekly on Tuesdays"),
]  # fmt: skip
NEWSLETTERS: dict[str, Newsletter] = {row[0]: Newsletter(*row) for row in _ALL}
