"""Every prompt newsqa sends to a generator, as named constants.

The default generators are tiny (SmolLM2-135M, Gemma 3 270M base). Measured on this project's
probes, they copy a short span well from a few sentences of context after two worked examples,
and do badly when asked to write citations themselves. So the model writes only the answer;
citations are attached afterwards by verification against the numbered evidence. The examples
are about invented places, so they can never leak into an answer about real news.
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.core.records import Evidence

SHORT_ANSWER_EXAMPLES = """\
Context: Construction of the footbridge is expected to cost $4.2 million, the Harbor Ledger \
reported on Monday. The Alder Bay council voted 5-2 on Tuesday to build a footbridge over the \
Mill River.
Question: Which newspaper reported the cost of the footbridge?
Answer: the Harbor Ledger

Context: The city plans to shut the ferry service for the winter. However, Riverton intends to \
keep its two terminals at Dock Street and Pier 9 open for freight.
Question: Which terminals does the city want to keep open?
Answer: Dock Street and Pier 9

Context: The team's robot stacked 40 crates in two minutes. Pinecrest High School's robotics \
team won the state championship on Saturday after a 12-year wait.
Question: How long had Pinecrest waited for the title?
Answer: 12 years

"""

SHORT_ANSWER_TEMPLATE = "Context: {context}\nQuestion: {question}\nAnswer:"

SHORT_ANSWER_STOP = ("\n", "Question:", "Context:")

# The one phrase a refusal uses, in the answer text and in every output format.
REFUSAL = "The archive does not answer this question."


def short_answer_prompt(question: str, evidence: Sequence[Evidence]) -> str:
    """Evidence best-last: small models lean on what they read most recently."""
    context = " ".join(" ".join(e.text.split()) for e in reversed(evidence))
    return SHORT_ANSWER_EXAMPLES + SHORT_ANSWER_TEMPLATE.format(
        context=context, question=" ".join(question.split())
    )
