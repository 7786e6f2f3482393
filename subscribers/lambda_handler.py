"""AWS Lambda entry point: API Gateway HTTP API events through apig-wsgi to the same Flask app.

A function is frozen once it has answered, so page mail cannot follow the answer here: each request's id goes to
the page-mail queue (DIGEST_PAGE_MAIL_QUEUE_URL) and the pageMail function sends it (digest.lambdas.page_mail).
"""

import os

from apig_wsgi import make_lambda_handler

from digest.aws_settings import lambda_settings

from .app import create_app
from .mailer import SqsMailer

handler = make_lambda_handler(
    create_app(lambda_settings(), mailer=SqsMailer(os.environ["DIGEST_PAGE_MAIL_QUEUE_URL"])), binary_support=True)
