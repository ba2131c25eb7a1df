"""How a judge prompt marks criteria and the candidate output.

Shared by the rubric grader, which writes judge prompts, and the simulated judge, which
reads them, so that the two cannot drift apart.
"""

OUTPUT_OPEN = "<candidate_output>"
OUTPUT_CLOSE = "</candidate_output>"


def criterion_block(text: str, criterion_id: int | None = None) -> str:
    opening = "<criterion>" if criterion_id is None else f'<criterion id="{criterion_id}">'
    return f"{opening}\n{text}\n</criterion>"


def output_block(output: str) -> str:
    return f"{OUTPUT_OPEN}\n{output}\n{OUTPUT_CLOSE}"
