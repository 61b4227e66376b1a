"""Police (公安) adapter: the population register export and no-criminal-record certificates, pushed to
the hub as resident ID cards, household registers and no-criminal-record certificates.

``python -m adapters.police sync --source DIR --hub URL --client-id ID --key KEYFILE``
"""
