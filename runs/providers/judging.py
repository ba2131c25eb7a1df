"""How a judge prompt marks criteria and the candidate output.

Shared by the rubric grader, which writes judge prompts, and the simulated judge, which
reads them, so that the two cannot drift apart.
"""

import re

OUTPUT_OPEN = "<candidate_output>"
OUTPUT_CLOSE = "</candidate_output>"

# The tags a judge prompt is built of; written inside an output they could close its block
# or open a block the judge would take for the grader's own.
_PROMPT_TAG = re.compile(r"<(\s*/?\s*(?:candidate_output|criterion|task)\b[^<>]*)>", re.I)


def criterion_block(text: str, criterion_id: int | None = None) -> str:
    opening = "<criterion>" if criterion_id is None else f'<criterion id="{criterion_id}">'
    return f"{opening}\n{text}\n</criterion>"


def output_block(output: str) -> str:
    """The output between tags, as it is (prompt version rubric-v1)."""
    return f"{OUTPUT_OPEN}\n{output}\n{OUTPUT_CLOSE}"


def escape_prompt_tags(output: str) -> str:
    """The output with every prompt tag in it written as &lt;...&gt;, so that it reads the
    same to a person but cannot close the candidate_output block or forge a criterion."""
    return _PROMPT_TAG.sub(r"&lt;\1&gt;", output)


def delimited_output_block(output: str) -> str:
    """The output as untrusted data between tags that it cannot close (rubric-v2 on)."""
    return output_block(escape_prompt_tags(output))
