"""Distinct query texts for the HTTP load tests (benches/load.sh, benches/chat_load.sh).

50 base questions x 40 modifiers x 30 qualifiers = 60,000 distinct texts. `queries(k, n)` is part k of n:
the qualifiers are dealt round-robin to the parts, so no text repeats across parts (scenarios) and a
part holds 50 x 40 x (30 / n) texts, all at most 250 characters.

    import sys; sys.path.insert(0, "benches"); from load_queries import queries
"""

import itertools

BASE = [
    "how do honey bees keep warm in winter", "when should a beekeeper feed sugar syrup",
    "why does condensation kill a bee colony", "how to protect a hive from mice",
    "what is retrieval-augmented generation", "how large should text chunks be for embeddings",
    "hybrid search combining bm25 and vectors", "how to evaluate a retrieval system",
    "what does the quarterly report say about revenue", "which product has the longest battery life",
    "return policy for damaged items", "how to reset a forgotten password",
    "shipping times for international orders", "what are the warranty terms",
    "history of the printing press", "how do vaccines train the immune system",
    "causes of the french revolution", "how does photosynthesis store energy",
    "best practices for database indexing", "what is a write-ahead log",
    "how do transformers use attention", "difference between precision and recall",
    "how to brew pour-over coffee", "why is the sky blue",
    "how do solar panels convert sunlight", "what is the capital of australia",
    "how to train for a marathon", "symptoms of vitamin d deficiency",
    "how do credit scores work", "what is compound interest",
    "how to grow tomatoes on a balcony", "how does a heat pump work",
    "what is the rust borrow checker", "how do hash maps handle collisions",
    "tips for public speaking", "how to write a cover letter",
    "what causes ocean tides", "how do bats navigate in the dark",
    "what is the half-life of carbon-14", "how to clean a cast iron pan",
    "what is inflation and why does it matter", "how does gps determine location",
    "how are earthquakes measured", "what is a black hole",
    "how to learn a new language quickly", "benefits of regular stretching",
    "how do noise cancelling headphones work", "what is a neural network",
    "how to make sourdough starter", "why do leaves change colour in autumn",
]
MODIFIERS = [
    "", "for beginners", "in simple terms", "step by step", "with examples", "in detail",
    "for a small team", "in practice", "on a budget", "quickly", "safely", "at home",
    "in cold climates", "for experts", "in 2024", "compared to alternatives", "common mistakes",
    "pros and cons", "a short summary", "explained", "key facts", "the main risks", "for students",
    "for engineers", "in europe", "in asia", "for small businesses", "without special tools",
    "in one paragraph", "according to the documents", "what the guide recommends",
    "and why it matters", "with numbers", "historically", "today", "in the long run",
    "for the first time", "in an emergency", "on weekends", "in a city",
]
QUALIFIERS = [
    "please", "thanks", "urgent", "briefly", "exactly", "roughly", "again", "now", "later",
    "today's notes", "from the faq", "from the manual", "from the report", "from the wiki",
    "from the archive", "from the handbook", "from the catalogue", "from the article",
    "from the paper", "from the notes", "from the page", "from the table", "from the list",
    "from the summary", "from the appendix", "from the index", "from the blog", "from the memo",
    "from the letter", "from the brief",
]


def queries(part, parts):
    """The texts of part `part` (0-based) of `parts`: disjoint across parts."""
    mine = [q for i, q in enumerate(QUALIFIERS) if i % parts == part]
    texts = [" ".join(w for w in (b, m, q) if w) for b, m, q in itertools.product(BASE, MODIFIERS, mine)]
    assert texts and all(len(t) <= 250 for t in texts)
    return texts
