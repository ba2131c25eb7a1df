"""The embedded broker: kombu's filesystem transport, for a laptop with no Redis."""

from pathlib import Path


def filesystem_transport_options(folder: Path) -> dict[str, str | bool]:
    """Transport options keeping every file of the broker under `folder` (created here)."""
    options: dict[str, str | bool] = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return options
