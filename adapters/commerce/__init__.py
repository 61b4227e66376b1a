"""Commerce (市场监督管理局, market regulation) adapter: the registry's enterprise API, pushed to the hub as
business licences (营业执照), with cancellations (注销) and revocations (吊销) as signed status changes.

``python -m adapters.commerce sync --source URL --hub URL --client-id ID --key KEYFILE``
"""
