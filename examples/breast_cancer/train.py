#!/usr/bin/python3
"""Train the `breast_cancer` example booster and write its reference samples.

Fits a gradient-boosted tree classifier (XGBoost, binary:logistic) on the
Wisconsin breast cancer data set that ships with scikit-learn (569 tumours,
30 features; no download), and writes, next to this script:

  booster.json   the booster as Booster.save_model() writes JSON
  booster.ubj    the same booster as UBJSON (the binary JSON format)
  samples.json   the feature names, fixed test rows and XGBoost's own
                 predicted probabilities for them, and one row with missing
                 values (null): the reference the tests compare cubeserve
                 with

Needs Debian's python3-xgboost and python3-sklearn (run it with
/usr/bin/python3 when another python3 comes first on PATH). Training runs
on one thread with fixed seeds, so the output is the same on every run.
"""
import json
import os

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
N_SAMPLES = 24


def write_json(name, obj):
    """Writes obj with one top-level member, or one matrix row, a line."""
    def dump(v):
        if isinstance(v, list) and v and isinstance(v[0], list):
            return "[\n  " + ",\n  ".join(json.dumps(r) for r in v) + "\n ]"
        return json.dumps(v)
    with open(os.path.join(HERE, name), "w") as f:
        f.write("{\n" + ",\n".join(" %s: %s" % (json.dumps(k), dump(v))
                                    for k, v in obj.items()) + "\n}\n")


def main():
    data = load_breast_cancer()
    # cubeserve hands XGBoost FP32 inputs: train on the same values
    X = data.data.astype(np.float32)
    y = data.target  # 0 malignant, 1 benign
    names = [str(n) for n in data.feature_names]
    i_train, i_test = train_test_split(
        np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    X_train, X_test = X[i_train], X[i_test]
    y_train, y_test = y[i_train], y[i_test]

    dtrain = xgb.DMatrix(X_train, label=y_train, feature_names=names)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "max_depth": 3,
        "eta": 0.2,
        "subsample": 1.0,
        "tree_method": "hist",
        "nthread": 1,
        "seed": 0,
    }
    booster = xgb.train(params, dtrain, num_boost_round=60)
    booster.save_model(os.path.join(HERE, "booster.json"))
    booster.save_model(os.path.join(HERE, "booster.ubj"))

    dtest = xgb.DMatrix(X_test, feature_names=names)
    p_test = booster.predict(dtest)
    accuracy = float(((p_test > 0.5) == y_test).mean())

    # The reference: inplace_predict on float32 rows, the call the plugin
    # makes through the C API (XGBoosterPredictFromDense). The inputs are
    # written as the data set has them (4 significant digits); as FP32 they
    # are exactly the rows predicted here.
    x = X_test[:N_SAMPLES]
    p = booster.inplace_predict(x)
    x_shown = data.data[i_test[:N_SAMPLES]]
    # one row with three missing values (NaN: worst radius, worst perimeter,
    # worst concave points), for a model that allows them
    x_missing = x[:1].copy()
    x_missing[0, [20, 22, 27]] = np.nan
    p_missing = booster.inplace_predict(x_missing)
    row_missing = [None if np.isnan(v) else float(v)
                   for v in np.where(np.isnan(x_missing[0]), np.nan,
                                     x_shown[0])]
    write_json("samples.json", {
        "features": names,
        "labels": [str(n) for n in data.target_names],
        "test_accuracy": round(accuracy, 4),
        "inputs": [[float(v) for v in row] for row in x_shown],
        "probability": [float(v) for v in p],
        "target": [int(v) for v in y_test[:N_SAMPLES]],
        "missing_input": row_missing,
        "missing_probability": float(p_missing[0]),
    })
    print("breast_cancer: %d trees, test accuracy %.4f on %d rows"
          % (booster.num_boosted_rounds(), accuracy, len(y_test)))


if __name__ == "__main__":
    main()
