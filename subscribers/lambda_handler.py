"""AWS Lambda entry point: API Gateway HTTP API events through apig-wsgi to the same Flask app."""

from apig_wsgi import make_lambda_handler

from digest.aws_settings import lambda_settings

from .app import create_app

handler = make_lambda_handler(create_app(lambda_settings()), binary_support=True)
