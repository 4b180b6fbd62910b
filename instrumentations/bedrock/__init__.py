"""AWS Bedrock through botocore (boto3): Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream of ``bedrock-runtime``, streams included.

``bedrock.py`` holds ``bedrock_patcher`` (the one hook every botocore call goes through),
``extract.py`` the extractors, ``families.py`` the ``invoke_model`` bodies of each model
family, ``streaming.py`` the stream accumulators.
"""

from .bedrock import bedrock_patcher

__all__ = ["bedrock_patcher"]
