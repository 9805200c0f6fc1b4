"""An original English prose generator: the offline, license-free default haystack.

Sentences come from a small grammar over hand-written word lists (all written for
niah). It is deterministic per seed, never repeats a sentence, and never writes a
digit, so numeric needles can never collide with the haystack.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

GENERATOR_VERSION = 1

_PLACES = (
    "the harbour",
    "the old mill",
    "the orchard",
    "the valley",
    "the market square",
    "the lighthouse",
    "the northern ridge",
    "the quiet library",
    "the river bend",
    "the abbey garden",
    "the salt marsh",
    "the ferry landing",
    "the upper meadow",
    "the stone bridge",
    "the weaving hall",
    "the pine forest",
    "the tide pools",
    "the granary",
    "the observatory",
    "the cider house",
    "the chalk cliffs",
    "the boatyard",
    "the village green",
    "the glasshouse",
    "the high pasture",
    "the copper mine",
    "the rope walk",
    "the herb garden",
    "the long gallery",
    "the river delta",
    "the clock tower",
    "the sheep fold",
    "the bakery",
)
_PEOPLE = (
    "the ferryman",
    "the weaver",
    "the miller's daughter",
    "the old shepherd",
    "the schoolteacher",
    "the cartographer",
    "a travelling tinker",
    "the harbour master",
    "the youngest apprentice",
    "the beekeeper",
    "the village doctor",
    "a tired courier",
    "the glassblower",
    "the librarian",
    "the fisherman's widow",
    "the stonemason",
    "a wandering fiddler",
    "the innkeeper",
    "the botanist",
    "the lamplighter",
    "the potter",
    "the night watchman",
    "a curious child",
    "the gardener",
    "the clockmaker",
    "the ship's cook",
    "the archivist",
    "the blacksmith",
    "the baker",
    "a quiet stranger",
    "the mapmaker's son",
    "the toll keeper",
)
_THINGS = (
    "a lantern",
    "the ledger",
    "a bundle of letters",
    "a copper kettle",
    "the brass compass",
    "a basket of pears",
    "the wool blanket",
    "a sealed envelope",
    "the spare oars",
    "a jar of honey",
    "the winter coat",
    "a coil of rope",
    "the painted sign",
    "a loaf of rye bread",
    "the silver spoon",
    "a worn map",
    "the iron key",
    "a sack of flour",
    "the music box",
    "a pair of boots",
    "the garden shears",
    "a flask of tea",
    "the wooden chest",
    "a box of candles",
    "the fishing net",
    "a pot of ink",
    "the heavy anchor",
    "a cracked mirror",
)
_VERBS_T = (
    "carried",
    "mended",
    "polished",
    "found",
    "wrapped",
    "counted",
    "repainted",
    "hid",
    "returned",
    "weighed",
    "sold",
    "borrowed",
    "measured",
    "cleaned",
    "examined",
    "packed",
    "sketched",
    "traded",
    "opened",
    "stored",
    "lifted",
)
_VERBS_I = (
    "waited",
    "laughed",
    "wandered",
    "slept",
    "hummed",
    "listened",
    "lingered",
    "hesitated",
    "worked",
    "rested",
    "sang",
    "paused",
    "whistled",
    "walked",
)
_ADVERBS = (
    "slowly",
    "carefully",
    "quietly",
    "without a word",
    "with great patience",
    "as usual",
    "once more",
    "in a hurry",
    "with some reluctance",
    "cheerfully",
    "absent-mindedly",
    "at last",
    "for a while",
    "with a sigh",
    "very gently",
)
_TIMES = (
    "At dawn",
    "Before the rain",
    "In the late afternoon",
    "After supper",
    "That spring",
    "Every market day",
    "Long after midnight",
    "On the first cold morning",
    "During the long summer",
    "When the bells rang",
    "Some years later",
    "Early that week",
    "While the tide was out",
    "In the grey hour before breakfast",
    "Once the snow had melted",
    "By the end of autumn",
)
_WEATHER = (
    "a thin mist",
    "a warm wind",
    "the first frost",
    "a steady drizzle",
    "pale sunlight",
    "a heavy fog",
    "a sharp breeze",
    "low clouds",
    "soft snow",
    "the evening haze",
)
_FEELINGS = (
    "content",
    "uneasy",
    "hopeful",
    "weary",
    "amused",
    "restless",
    "grateful",
    "puzzled",
    "calm",
    "homesick",
    "proud",
    "thoughtful",
)
_ADJ = (
    "narrow",
    "crooked",
    "sunlit",
    "crowded",
    "forgotten",
    "windswept",
    "familiar",
    "muddy",
    "silent",
    "ancient",
    "busy",
    "overgrown",
    "draughty",
    "peaceful",
)
_OBSERVATIONS = (
    "nobody could remember who had built it",
    "the paint had faded to the colour of straw",
    "the gulls had taken over the roof",
    "every drawer smelled faintly of cedar",
    "the path was lined with wild thyme",
    "the shutters rattled whenever a cart went past",
    "the floorboards creaked in a particular order",
    "a row of blue cups stood on the shelf",
    "moss had crept over the lowest steps",
    "the windows looked out over the water",
    "the door had been left unlocked for years",
    "swallows nested under the eaves each summer",
)
_SHORT_ADV = ("", " again", " briefly", " alone", " outside", " early", " late")


_ROADS = ("was quiet", "wound uphill", "was full of carts", "ran beside a stream")


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _sentence(rng: random.Random) -> str:
    """One sentence from one of several grammar shapes."""
    p, q, t = rng.choice(_PEOPLE), rng.choice(_PEOPLE), rng.choice(_THINGS)
    place, place2 = rng.choice(_PLACES), rng.choice(_PLACES)
    shape = rng.randrange(12)
    if shape == 0:
        return f"{rng.choice(_TIMES)}, {p} {rng.choice(_VERBS_T)} {t} near {place}."
    if shape == 1:
        return f"{_cap(p)} {rng.choice(_VERBS_I)} {rng.choice(_ADVERBS)} by {place}."
    if shape == 2:
        return (
            f"{_cap(rng.choice(_WEATHER))} settled over {place}, and {p} felt "
            f"{rng.choice(_FEELINGS)}."
        )
    if shape == 3:
        return f"In {place}, {rng.choice(_OBSERVATIONS)}."
    if shape == 4:
        return (
            f"{_cap(q)} asked {p} about {t}, but the answer was "
            f"{rng.choice(('vague', 'long', 'unexpected', 'kind', 'brief', 'strange'))}."
        )
    if shape == 5:
        return (
            f"The {rng.choice(_ADJ)} road from {place} to {place2} "
            f"{rng.choice(_ROADS)}."
        )
    if shape == 6:
        return f"{_cap(p)} {rng.choice(_VERBS_I)}{rng.choice(_SHORT_ADV)}."
    if shape == 7:
        return (
            f"{_cap(p)} remembered {t} and {rng.choice(_VERBS_I)} "
            f"{rng.choice(_ADVERBS)}, thinking of {place2}."
        )
    if shape == 8:
        return f"{rng.choice(_TIMES)}, {rng.choice(_WEATHER)} drifted across {place}."
    if shape == 9:
        return (
            f"Everyone agreed that {place} was {rng.choice(_ADJ)}, although {q} "
            f"thought it {rng.choice(_ADJ)} as well."
        )
    if shape == 10:
        return f"{_cap(p)} {rng.choice(_VERBS_T)} {t} and left it with {q}."
    return (
        (
            f"\u201cWe should go to {place},\u201d said {p}, and {q} "
            f"{rng.choice(('agreed', 'shrugged', 'laughed', 'said nothing'))}."
        )
        .replace("\u201c", '"')
        .replace("\u201d", '"')
    )


def paragraphs(seed: int) -> Iterator[str]:
    """An endless stream of paragraphs; no sentence repeats (until the grammar runs dry)."""
    rng = random.Random(f"niah-prose-{GENERATOR_VERSION}-{seed}")
    seen: set[str] = set()
    while True:
        sentences: list[str] = []
        for _ in range(rng.randint(3, 8)):
            for _attempt in range(50):
                s = _sentence(rng)
                if s not in seen:
                    break
            seen.add(s)
            sentences.append(s)
        yield " ".join(sentences)
