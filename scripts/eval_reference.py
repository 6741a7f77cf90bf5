#!/usr/bin/env python3
"""Reference numbers for ragd's retrieval evaluation (see scripts/eval_reference.md).

  --score RUN QRELS    score a TREC run with pytrec_eval (trec_eval's own code) and print JSON:
                       nDCG@10, Recall@10, Recall@100, MRR@10, averaged over the queries with a
                       relevant judgment (a query missing from the run scores 0).
  --bm25 DIR           Lucene-style BM25 over a BEIR folder: write its run and the qrels in TREC
                       format, then print its metrics as --score does.
  --selfcheck DIR      check this script's Lucene Porter stemmer against PyStemmer's Porter and its
                       BM25 arithmetic against bm25s (method "lucene") on a BEIR folder.

The script runs itself in a virtual environment it creates under target/eval-venv with pinned
packages (PyPI wheels), so plain `python3 scripts/eval_reference.py ...` is all it takes.
"""

import argparse
import collections
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "target" / "eval-venv"
# Exact pins; all install from wheels for CPython 3.11 on x86_64 Linux.
REQUIREMENTS = [
    "pytrec-eval-terrier==0.5.11",  # trec_eval 9.0.8 with Python bindings (the scorer)
    "PyStemmer==3.1.0",  # Snowball stemmers (--selfcheck only)
    "bm25s==0.3.16",  # independent BM25 (--selfcheck only)
    "numpy==2.4.6",  # for bm25s
    "scipy==1.17.1",  # for bm25s
]

K1 = 1.2
B = 0.75
DEPTH = 1000  # documents kept per query in the BM25 run (TREC/BEIR convention)


# ------------------------------------------------------------------------------------------------
# Virtual environment


def ensure_venv_and_reexec():
    """Re-runs this script with the venv's Python, creating the venv and installing the pins first."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    marker = VENV / "ragd-requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if not python.exists():
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not marker.exists() or marker.read_text() != wanted:
        print(f"installing {' '.join(REQUIREMENTS)}", file=sys.stderr)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--only-binary=:all:", *REQUIREMENTS],
            check=True,
        )
        marker.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ------------------------------------------------------------------------------------------------
# Files


def read_beir(directory, split="test"):
    """Returns (docs, queries, qrels): docs a list of (id, title, text), queries {id: text},
    qrels {query id: {doc id: grade}} for the queries of queries.jsonl."""
    directory = Path(directory)
    docs = []
    with open(directory / "corpus.jsonl", encoding="utf-8") as corpus:
        for line in corpus:
            if line.strip():
                record = json.loads(line)
                docs.append((str(record["_id"]), record.get("title") or "", record["text"]))
    queries = {}
    with open(directory / "queries.jsonl", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                queries[str(record["_id"])] = record["text"]
    qrels = read_qrels(directory / "qrels" / f"{split}.tsv")
    qrels = {query: judged for query, judged in qrels.items() if query in queries}
    return docs, queries, qrels


def read_qrels(path):
    """Reads TREC qrels (`qid iter docid rel`) or BEIR qrels (`query-id corpus-id score`, header optional)."""
    qrels = collections.defaultdict(dict)
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or (number == 1 and fields == ["query-id", "corpus-id", "score"]):
                continue
            if len(fields) == 4:
                query, _, doc, grade = fields
            elif len(fields) == 3:
                query, doc, grade = fields
            else:
                sys.exit(f"{path}:{number}: expected 3 (BEIR) or 4 (TREC) fields, found {len(fields)}")
            qrels[query][doc] = int(grade)
    return dict(qrels)


def read_run(path):
    """Reads a TREC run (`qid Q0 docid rank score tag`) as {query id: {doc id: score}}."""
    run = collections.defaultdict(dict)
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                sys.exit(f"{path}:{number}: expected 6 fields, found {len(fields)}")
            query, _, doc, _, score, _ = fields
            if doc in run[query]:
                sys.exit(f"{path}:{number}: document {doc} listed twice for query {query}")
            run[query][doc] = float(score)
    return dict(run)


def write_run(path, run, tag):
    """Writes {query: [(doc, score), ...] best first} in TREC format, scores exactly (repr)."""
    with open(path, "w", encoding="utf-8") as out:
        for query in sorted(run):
            for rank, (doc, score) in enumerate(run[query], 1):
                out.write(f"{query} Q0 {doc} {rank} {score!r} {tag}\n")


def write_qrels(path, qrels):
    with open(path, "w", encoding="utf-8") as out:
        for query in sorted(qrels):
            for doc in sorted(qrels[query]):
                out.write(f"{query} 0 {doc} {qrels[query][doc]}\n")


# ------------------------------------------------------------------------------------------------
# Scoring with trec_eval (pytrec_eval)

METRICS = ("ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10")


def score(run, qrels):
    """Per-query and mean metrics over the queries with a relevant judgment, by trec_eval's code:
    ndcg_cut.10, recall.10, recall.100, and recip_rank counted only when the first relevant document
    is within the top 10 (RR@10; trec_eval's recip_rank has no cutoff). trec_eval orders each query's
    documents by score descending, ties by document id descending."""
    import pytrec_eval

    scorable = {q: judged for q, judged in qrels.items() if any(g > 0 for g in judged.values())}
    evaluator = pytrec_eval.RelevanceEvaluator(scorable, {"ndcg_cut.10", "recall.10,100", "recip_rank"})
    results = evaluator.evaluate({q: docs for q, docs in run.items() if q in scorable and docs})
    per_query = {}
    for query in sorted(scorable):
        result = results.get(query)
        if result is None:
            per_query[query] = dict.fromkeys(METRICS, 0.0)
            continue
        reciprocal_rank = result["recip_rank"]
        per_query[query] = {
            "ndcg_at_10": result["ndcg_cut_10"],
            "recall_at_10": result["recall_10"],
            "recall_at_100": result["recall_100"],
            # 1/r for r <= 10 is at least 0.1; the next value, 1/11, is below 1/10.5.
            "mrr_at_10": reciprocal_rank if reciprocal_rank > 1 / 10.5 else 0.0,
        }
    count = len(per_query)
    summary = {m: (sum(s[m] for s in per_query.values()) / count if count else 0.0) for m in METRICS}
    summary["queries"] = count
    return summary, per_query


# ------------------------------------------------------------------------------------------------
# Lucene's EnglishAnalyzer: StandardTokenizer, EnglishPossessiveFilter, LowerCaseFilter,
# StopFilter (ENGLISH_STOP_WORDS_SET), PorterStemFilter.

# UAX#29 word boundaries as far as they matter for English text: letters, digits and `_` join;
# a letter-letter pair may be joined by ' ’ . : · (don't, u.s.a), a digit-digit pair by . , ; ' ’
# (3.14, 1,000). Punctuation-only runs produce no token.
TOKEN = re.compile(
    r"\w+(?:(?:(?<=[^\W\d_])['\u2019.:\u00b7](?=[^\W\d_])|(?<=\d)[.,;'\u2019](?=\d))\w+)*"
)

LUCENE_ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)


class LucenePorterStemmer:
    """org.apache.lucene.analysis.en.PorterStemmer, step for step: Porter's own release 3 of the
    algorithm, which maps -bli to -ble and -logi to -log and leaves words of 1 or 2 letters alone.
    With `published=True` it follows the 1980 paper instead (-abli to -able, no -logi rule), as
    Snowball's "porter" does; --selfcheck uses that to test this port against PyStemmer."""

    def __init__(self, published=False):
        self.step3 = dict(self.STEP3)
        if published:
            self.step3["l"] = (("abli", "able"),) + self.STEP3["l"][1:]
            del self.step3["g"]

    def stem(self, word):
        self.b, self.k, self.j = word, len(word) - 1, 0
        if self.k > 1:
            self._step1()
            self._step2()
            self._step3()
            self._step4()
            self._step5()
            self._step6()
        return self.b[: self.k + 1]

    def _cons(self, i):
        ch = self.b[i]
        if ch in "aeiou":
            return False
        if ch == "y":
            return True if i == 0 else not self._cons(i - 1)
        return True

    def _m(self):
        """The number of consonant-vowel sequences in b[0..=j]."""
        n, i = 0, 0
        while True:
            if i > self.j:
                return n
            if not self._cons(i):
                break
            i += 1
        i += 1
        while True:
            while True:
                if i > self.j:
                    return n
                if self._cons(i):
                    break
                i += 1
            i += 1
            n += 1
            while True:
                if i > self.j:
                    return n
                if not self._cons(i):
                    break
                i += 1
            i += 1

    def _vowel_in_stem(self):
        return any(not self._cons(i) for i in range(self.j + 1))

    def _double_consonant(self, j):
        return j >= 1 and self.b[j] == self.b[j - 1] and self._cons(j)

    def _cvc(self, i):
        if i < 2 or not self._cons(i) or self._cons(i - 1) or not self._cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def _ends(self, suffix):
        start = self.k - len(suffix) + 1
        if start < 0 or self.b[start : self.k + 1] != suffix:
            return False
        self.j = self.k - len(suffix)
        return True

    def _set_to(self, s):
        self.b = self.b[: self.j + 1] + s
        self.k = self.j + len(s)

    def _replace(self, s):
        if self._m() > 0:
            self._set_to(s)

    def _step1(self):
        if self.b[self.k] == "s":
            if self._ends("sses"):
                self.k -= 2
            elif self._ends("ies"):
                self._set_to("i")
            elif self.b[self.k - 1] != "s":
                self.k -= 1
        if self._ends("eed"):
            if self._m() > 0:
                self.k -= 1
        elif (self._ends("ed") or self._ends("ing")) and self._vowel_in_stem():
            self.k = self.j
            if self._ends("at"):
                self._set_to("ate")
            elif self._ends("bl"):
                self._set_to("ble")
            elif self._ends("iz"):
                self._set_to("ize")
            elif self._double_consonant(self.k):
                ch = self.b[self.k]
                self.k -= 1
                if ch in "lsz":
                    self.k += 1
            elif self._m() == 1 and self._cvc(self.k):
                self._set_to("e")

    def _step2(self):
        if self._ends("y") and self._vowel_in_stem():
            self.b = self.b[: self.k] + "i" + self.b[self.k + 1 :]

    STEP3 = {
        "a": (("ational", "ate"), ("tional", "tion")),
        "c": (("enci", "ence"), ("anci", "ance")),
        "e": (("izer", "ize"),),
        "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
        "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
        "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
        "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
        "g": (("logi", "log"),),
    }
    STEP4 = {
        "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
        "i": (("iciti", "ic"),),
        "l": (("ical", "ic"), ("ful", "")),
        "s": (("ness", ""),),
    }
    STEP5 = {
        "a": ("al",),
        "c": ("ance", "ence"),
        "e": ("er",),
        "i": ("ic",),
        "l": ("able", "ible"),
        "n": ("ant", "ement", "ment", "ent"),
        "s": ("ism",),
        "t": ("ate", "iti"),
        "u": ("ous",),
        "v": ("ive",),
        "z": ("ize",),
    }

    def _step3(self):
        if self.k == 0:
            return
        for suffix, replacement in self.step3.get(self.b[self.k - 1], ()):
            if self._ends(suffix):
                self._replace(replacement)
                break

    def _step4(self):
        for suffix, replacement in self.STEP4.get(self.b[self.k], ()):
            if self._ends(suffix):
                self._replace(replacement)
                break

    def _step5(self):
        if self.k == 0:
            return
        letter = self.b[self.k - 1]
        if letter == "o":
            if not (
                (self._ends("ion") and self.j >= 0 and self.b[self.j] in "st") or self._ends("ou")
            ):
                return
        elif not any(self._ends(suffix) for suffix in self.STEP5.get(letter, ())):
            return
        if self._m() > 1:
            self.k = self.j

    def _step6(self):
        self.j = self.k
        if self.b[self.k] == "e":
            a = self._m()
            if a > 1 or (a == 1 and not self._cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self._double_consonant(self.k) and self._m() > 1:
            self.k -= 1


class EnglishAnalyzer:
    """Text → terms as Lucene's EnglishAnalyzer makes them (stems cached per surface form)."""

    def __init__(self):
        self._stemmer = LucenePorterStemmer()
        self._stems = {}

    def tokens(self, text):
        """StandardTokenizer + EnglishPossessiveFilter + LowerCaseFilter."""
        result = []
        for token in TOKEN.findall(text):
            if len(token) >= 2 and token[-1] in "sS" and token[-2] in "'\u2019\uff07":
                token = token[:-2]
            result.append(token.lower())
        return result

    def terms(self, text):
        terms = []
        for token in self.tokens(text):
            if token in LUCENE_ENGLISH_STOP_WORDS:
                continue
            stem = self._stems.get(token)
            if stem is None:
                stem = self._stems[token] = self._stemmer.stem(token)
            terms.append(stem)
        return terms


# ------------------------------------------------------------------------------------------------
# BM25 as Lucene's BM25Similarity computes it


def lucene_int_to_byte4(value):
    """SmallFloat.intToByte4: Lucene's one-byte document length (exact below 24, 4 significant bits above)."""
    if value < 24:
        return value
    value -= 24
    bits = value.bit_length()
    if bits < 4:
        return 24 + value
    shift = bits - 4
    return 24 + (((value >> shift) & 0x07) | ((shift + 1) << 3))


def lucene_byte4_to_int(byte):
    if byte < 24:
        return byte
    byte -= 24
    bits, shift = byte & 0x07, (byte >> 3) - 1
    return 24 + (bits if shift == -1 else (bits | 0x08) << shift)


class LuceneBM25:
    """BM25 over `title + " " + text`, as Lucene 9 scores a TextField with BM25Similarity(k1, b):
    idf = ln(1 + (docCount - df + 0.5) / (df + 0.5)) with docCount the documents that have a term;
    tf part = freq / (freq + k1 * (1 - b + b * dl / avgdl)) with dl the length decoded from its one-byte
    norm and avgdl = sumTotalTermFreq / docCount. Lucene 8+ drops BM25's constant (k1 + 1) factor,
    which changes no ranking. A query term repeated n times weighs n times (Lucene's BooleanQuery sums
    its clauses). Computed in double precision where Lucene uses float (see eval_reference.md)."""

    def __init__(self, doc_terms, k1=K1, b=B, quantize_lengths=True):
        self.k1, self.b = k1, b
        self.postings = collections.defaultdict(list)  # term → [(doc index, freq)]
        self.lengths = []
        for index, terms in enumerate(doc_terms):
            for term, freq in collections.Counter(terms).items():
                self.postings[term].append((index, freq))
            length = len(terms)
            self.lengths.append(lucene_byte4_to_int(lucene_int_to_byte4(length)) if quantize_lengths else length)
        self.doc_count = sum(1 for terms in doc_terms if terms)
        self.avgdl = sum(len(terms) for terms in doc_terms) / self.doc_count

    def idf(self, term):
        df = len(self.postings.get(term, ()))
        return math.log(1 + (self.doc_count - df + 0.5) / (df + 0.5))

    def scores(self, query_terms):
        """{doc index: score} of every document matching at least one query term."""
        scores = collections.defaultdict(float)
        for term, count in collections.Counter(query_terms).items():
            postings = self.postings.get(term)
            if not postings:
                continue
            weight = count * self.idf(term)
            for index, freq in postings:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[index] / self.avgdl)
                scores[index] += weight * freq / (freq + norm)
        return scores

    def search(self, query_terms, depth):
        """The top `depth` (doc index, score), best first, ties by index as Lucene breaks them by doc id."""
        ranked = sorted(self.scores(query_terms).items(), key=lambda item: (-item[1], item[0]))
        return ranked[:depth]


def bm25_run(directory, split):
    docs, queries, qrels = read_beir(directory, split)
    analyzer = EnglishAnalyzer()
    index = LuceneBM25([analyzer.terms(f"{title} {text}") for _, title, text in docs])
    run, ties = {}, 0
    for query_id, text in queries.items():
        ranked = index.search(analyzer.terms(text), DEPTH)
        top = [score for _, score in ranked[:100]]
        ties += sum(1 for a, b in zip(top, top[1:]) if a == b)
        run[query_id] = [(docs[i][0], score) for i, score in ranked]
    print(
        f"bm25: {len(docs)} documents ({index.doc_count} with terms, avgdl {index.avgdl:.2f}), "
        f"{len(index.postings)} terms, {len(queries)} queries; {ties} exactly tied neighbours in the "
        "top 100s (trec_eval orders ties by document id, descending)",
        file=sys.stderr,
    )
    return run, qrels


# ------------------------------------------------------------------------------------------------
# Self-check against independent implementations


def selfcheck(directory, split):
    import bm25s
    import numpy
    import Stemmer

    docs, queries, _ = read_beir(directory, split)
    analyzer = EnglishAnalyzer()
    texts = [f"{title} {text}" for _, title, text in docs] + list(queries.values())

    # 1. The Porter port, in its published-algorithm mode, must agree with Snowball's "porter" on
    #    every word of 3 letters or more; Lucene's departures from it are counted for information.
    vocabulary = sorted({t for text in texts for t in analyzer.tokens(text) if t.isalpha() and len(t) > 2})
    snowball = Stemmer.Stemmer("porter")
    published, lucene = LucenePorterStemmer(published=True), LucenePorterStemmer()
    mismatches = [(w, published.stem(w), snowball.stemWord(w)) for w in vocabulary
                  if published.stem(w) != snowball.stemWord(w)]
    departures = [(w, lucene.stem(w), snowball.stemWord(w)) for w in vocabulary
                  if lucene.stem(w) != snowball.stemWord(w)]
    print(f"stemmer: {len(vocabulary)} words; published-mode port vs Snowball porter: "
          f"{len(mismatches)} mismatches; Lucene's -bli/-logi departures change {len(departures)} words "
          f"(e.g. {', '.join(f'{w}->{l} not {p}' for w, l, p in departures[:4])})")
    for word, ported, reference in mismatches[:25]:
        print(f"  MISMATCH {word}: port {ported}, snowball {reference}")

    # 2. BM25 arithmetic against bm25s method="lucene" on the same terms. bm25s takes every document
    #    as counted and exact lengths, so the check drops empty documents and length quantization.
    doc_terms = [analyzer.terms(text) for text in texts[: len(docs)]]
    nonempty = [terms for terms in doc_terms if terms]
    ours = LuceneBM25(nonempty, quantize_lengths=False)
    reference = bm25s.BM25(method="lucene", idf_method="lucene", k1=K1, b=B)
    reference.index(nonempty, show_progress=False)
    worst = 0.0
    for text in queries.values():
        terms = [t for t in analyzer.terms(text) if t in ours.postings]
        if not terms:
            continue
        expected = numpy.zeros(len(nonempty))
        for index, value in ours.scores(terms).items():
            expected[index] = value
        actual = reference.get_scores(terms)
        worst = max(worst, float(numpy.max(numpy.abs(actual - expected) / numpy.maximum(1.0, expected))))
    print(f"bm25: largest relative difference from bm25s over {len(queries)} queries: {worst:.2e} "
          "(bm25s computes in float32)")
    ok = not mismatches and worst < 1e-5
    print("selfcheck " + ("passed" if ok else "FAILED"))
    return ok


# ------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--score", nargs=2, metavar=("RUN", "QRELS"), help="score a TREC run")
    mode.add_argument("--bm25", metavar="DIR", help="Lucene-style BM25 baseline on a BEIR folder")
    mode.add_argument("--selfcheck", metavar="DIR", help="check the analyzer and BM25 on a BEIR folder")
    parser.add_argument("--split", default="test", help="qrels split of the BEIR folder (default: test)")
    parser.add_argument("--out", help="where --bm25 writes (default: target/eval-reference/<folder name>)")
    parser.add_argument("--per-query", action="store_true", help="also print every query's metrics")
    args = parser.parse_args()

    ensure_venv_and_reexec()

    if args.selfcheck:
        sys.exit(0 if selfcheck(args.selfcheck, args.split) else 1)
    if args.score:
        run, qrels = read_run(args.score[0]), read_qrels(args.score[1])
    else:
        ranked, qrels = bm25_run(args.bm25, args.split)
        out = Path(args.out) if args.out else ROOT / "target" / "eval-reference" / Path(args.bm25).resolve().name
        out.mkdir(parents=True, exist_ok=True)
        write_run(out / "bm25-lucene.run", ranked, "bm25-lucene")
        write_qrels(out / "qrels.trec", qrels)
        print(f"wrote {out / 'bm25-lucene.run'} and {out / 'qrels.trec'}", file=sys.stderr)
        run = read_run(out / "bm25-lucene.run")  # score exactly what was written
    summary, per_query = score(run, qrels)
    output = {**summary, "per_query": per_query} if args.per_query else summary
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
