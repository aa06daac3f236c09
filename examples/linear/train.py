#!/usr/bin/python3
"""Train the `linear` example model and write its reference samples.

Fits a multinomial logistic regression on the iris data set that ships with
scikit-learn (no download) and writes, next to this script:

  weights.json  the model in the native plugin's "cubeserve-linear/1" format
  samples.json  fixed inputs with scikit-learn's own logits, probabilities and
                predicted labels, the reference the tests compare cubeserve to

Needs Debian's python3-sklearn and python3-numpy (run it with /usr/bin/python3
when another python3 comes first on PATH). The output is deterministic.
"""
import json
import os

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
# Seven rows of each class (iris rows 0-49, 50-99, 100-149 are the classes).
SAMPLE_ROWS = [0, 7, 14, 21, 28, 35, 42,
               50, 57, 64, 70, 77, 84, 91,
               100, 106, 113, 119, 126, 133, 140]


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
    iris = load_iris()
    X, y = iris.data, iris.target
    clf = LogisticRegression(multi_class="multinomial", solver="lbfgs",
                             max_iter=1000, random_state=0)
    clf.fit(X, y)

    write_json("weights.json", {
        "format": "cubeserve-linear/1",
        "input": "x",
        "features": int(X.shape[1]),
        "classes": int(len(clf.classes_)),
        "weights": clf.coef_.tolist(),
        "bias": clf.intercept_.tolist(),
        "labels": [str(n) for n in iris.target_names],
    })

    # The plugin sees these inputs as float32: that rounding moves its
    # results by about 1e-6, far inside the tests' tolerance of 1e-4.
    x = X[SAMPLE_ROWS]
    write_json("samples.json", {
        "inputs": x.tolist(),
        "logits": clf.decision_function(x).tolist(),
        "probs": clf.predict_proba(x).tolist(),
        "labels": [int(v) for v in clf.predict(x)],
    })
    print("training accuracy %.3f; wrote weights.json and samples.json"
          % clf.score(X, y))


if __name__ == "__main__":
    main()
