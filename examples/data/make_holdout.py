"""Write ``breast_cancer_holdout.csv``: the evaluation set of the example rollout's ``validation:``.

Why this split: it is exactly the 30% that ``examples/train/train_gbm.py`` holds out from training
(``train_test_split(test_size=0.3, stratify=y, random_state=0)``), so no example model is judged on
rows it was fitted on. Columns: the 30 features in scikit-learn's order (the trained models take a
tensor of that width), ``target`` (1 = benign), and ``radius_band`` (``large`` / ``small``: mean
radius above / below the hold-out's median), the slice the validation checks for an accuracy gap.

Run it again with ``uv run python examples/data/make_holdout.py``; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

OUT = Path(__file__).with_name("breast_cancer_holdout.csv")


def main() -> None:
    data = load_breast_cancer()
    _, x_val, _, y_val = train_test_split(data.data, data.target, test_size=0.3, stratify=data.target, random_state=0)
    frame = pd.DataFrame(x_val, columns=[str(name) for name in data.feature_names])
    frame["target"] = y_val
    frame["radius_band"] = np.where(frame["mean radius"] > frame["mean radius"].median(), "large", "small")
    frame.to_csv(OUT, index=False, float_format="%.6g")
    print(f"wrote {OUT} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
