"""bedrock-reconciler: make the Amazon Bedrock custom models of one account match YAML manifests."""

__version__ = "0.1.0"
