"""AWS Lambda entry point: API Gateway HTTP API events through apig-wsgi to the same Flask app."""

from apig_wsgi import make_lambda_handler

from digest.settings import Settings

from .app import create_app

handler = make_lambda_handler(create_app(Settings.from_env()), binary_support=True)
