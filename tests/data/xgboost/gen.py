#!/usr/bin/python3
"""Make the small boosters tests/unit/test_xgboost.c loads, with references.

One booster per kind of output the xgboost plugin declares, each trained in
a few rounds on a data set that ships with scikit-learn (no download):

  softprob.json   iris, multi:softprob (3 probabilities a row)
  softmax.ubj     iris, multi:softmax (the class index), as UBJSON
  regression.json diabetes, reg:squarederror (one value a row)
  linear.json     diabetes, gblinear booster, reg:squarederror
  reference.json  per booster: the objective, the output the plugin should
                  declare, 6 input rows (the last with NaN features) and
                  Python XGBoost's predictions for them

Needs Debian's python3-xgboost and python3-sklearn; run it with
/usr/bin/python3. Deterministic: one thread, fixed seeds.
"""
import json
import os

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_diabetes, load_iris

HERE = os.path.dirname(os.path.abspath(__file__))


def rows_with_nan(X):
    """Six rows of X; the last has two NaN features (missing values)."""
    x = X[[0, 40, 60, 90, 120, 140 % len(X)]].copy()
    x[-1, 0] = np.nan
    x[-1, 2] = np.nan
    return x


def as_list(a):
    return [None if np.isnan(v) else float(v) for v in np.asarray(a).ravel()]


def main():
    iris = load_iris()
    Xi, yi = iris.data.astype(np.float32), iris.target
    diab = load_diabetes()
    Xd, yd = diab.data.astype(np.float32), diab.target.astype(np.float32)
    common = {"nthread": 1, "seed": 0, "tree_method": "hist", "max_depth": 2}
    jobs = [
        ("softprob.json", Xi, yi, dict(common, objective="multi:softprob", num_class=3),
         "probabilities", [-1, 3]),
        ("softmax.ubj", Xi, yi, dict(common, objective="multi:softmax", num_class=3),
         "class", [-1]),
        ("regression.json", Xd, yd, dict(common, objective="reg:squarederror"),
         "prediction", [-1]),
        ("linear.json", Xd, yd, {"nthread": 1, "seed": 0, "booster": "gblinear",
                                 "objective": "reg:squarederror"},
         "prediction", [-1]),
    ]
    ref = {}
    for name, X, y, params, out, shape in jobs:
        booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=4)
        booster.save_model(os.path.join(HERE, name))
        x = rows_with_nan(X)
        if params.get("booster") == "gblinear":
            # XGBoost 1.7 has no inplace prediction for gblinear: the
            # plugin predicts it through a DMatrix, as this does
            p = booster.predict(xgb.DMatrix(x, missing=np.nan))
        else:
            p = booster.inplace_predict(x)
        ref[name] = {
            "objective": params["objective"],
            "booster": params.get("booster", "gbtree"),
            "features": int(X.shape[1]),
            "output": out,
            "shape": shape,
            "inputs": [as_list(r) for r in x],
            "predictions": as_list(p),
        }
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
