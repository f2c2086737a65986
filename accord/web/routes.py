"""The web application's routes."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from accord.web import actions, devsignin, pages, signin, trends


def routes(*, production: bool) -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route("/", pages.overview, name="overview"),
        Route("/heatmap", pages.heat_map, name="heatmap"),
        Route("/findings", pages.findings, name="findings"),
        Route("/trends", trends.trends, name="trends"),
        Route("/mywork", pages.my_work, name="mywork"),
        Route("/findings/{id}", pages.finding, name="finding"),
        Route("/findings/{id}/respond", actions.respond, methods=["POST"]),
        Route("/findings/{id}/transition", actions.transition, methods=["POST"]),
        Route("/findings/{id}/verify", actions.verify, methods=["POST"]),
        Route("/audits/{id}", pages.audit, name="audit"),
        Route("/capas/{id}", pages.capa, name="capa"),
        Route("/reviews/{id}", pages.review, name="review"),
        Route("/reviews/{id}/sign", actions.sign_review, methods=["POST"]),
        Route("/signin", signin.sign_in_page, name="signin"),
        Route("/signin", signin.start_sign_in, methods=["POST"]),
        Route("/auth/callback", signin.callback, name="auth_callback"),
        Route("/signout", signin.sign_out, methods=["POST"], name="signout"),
    ]
    if not production:
        found += [
            Route("/dev-issuer/authorize", devsignin.authorize_page, name="dev_authorize"),
            Route("/dev-issuer/authorize", devsignin.authorize, methods=["POST"]),
            Route("/dev-issuer/token", devsignin.token, methods=["POST"], name="dev_token"),
        ]
    return found
