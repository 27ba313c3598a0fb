"""The AWS edge: the only package (with ``sandbox``) that imports boto3."""
