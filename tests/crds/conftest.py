"""pytest configuration of the CRD tests: the `cluster` marker (see test_crds.py)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cluster: needs a real kube-apiserver through KUBECONFIG; fails (never skips) without one",
    )
