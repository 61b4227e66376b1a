"""Civil affairs (民政局) adapter: the marriage registry's XML export and the minimum-subsistence (低保)
roster, pushed to the hub as marriage and divorce certificates (one per spouse who holds a 公民身份号码)
and minimum-subsistence certificates.

``python -m adapters.civil_affairs sync --source DIR --hub URL --client-id ID --key KEYFILE``
"""
