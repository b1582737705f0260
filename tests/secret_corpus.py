"""Realistic secrets, each as it appears in the wild (a header, a URL, a config line, a key file, a token).

``CORPUS`` rows are ``(kind, text, secret)``: ``text`` carries ``secret`` the way real data does; a test plants
``text`` in every field of every path and then looks for ``secret`` in everything that left the process.
Every value is fake, built from fixed characters so that a test never needs a real credential.
"""

# ruff: noqa: E501  (one row per secret reads best)
from __future__ import annotations

import base64

A40 = "wJalrXUtnFEMIK7MDENGbPxRfiCYzQ8vKp3LmN2a"
HEX32 = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
B36 = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVc"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4"
SSH_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ"
BASIC = base64.b64encode(b"admin:Corr3ctH0rseBattery").decode()

CORPUS: list[tuple[str, str, str]] = [
    # cloud keys
    ("aws_access_key_id", "using key AKIAQX7ZPLMN4RT2VW8Y for s3", "AKIAQX7ZPLMN4RT2VW8Y"),
    ("aws_session_key_id", "creds ASIAZ9Y8X7W6V5U4T3S2 expire soon", "ASIAZ9Y8X7W6V5U4T3S2"),
    ("aws_secret_env", f"AWS_SECRET_ACCESS_KEY={A40}", A40),
    ("aws_secret_ini", f"aws_secret_access_key = {A40[::-1]}", A40[::-1]),
    ("gcp_api_key", "maps key AIzaSyD4xQ7Lp9Zr2Vb8Nm3Kj6Hg1Fd5Sa0Wq2E", "AIzaSyD4xQ7Lp9Zr2Vb8Nm3Kj6Hg1Fd5Sa0Wq2E"),
    ("gcp_oauth", "token ya29.a0AfH6SMBx7Qk2LmNpRsTuVwXyZ0123456789abcd", "ya29.a0AfH6SMBx7Qk2LmNpRsTuVwXyZ0123456789abcd"),
    ("gcp_service_account", '{"type": "service_account", "private_key_id": "4c1f2e9a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e", '
     f'"private_key": "-----BEGIN PRIVATE KEY-----\\n{PEM_BODY}\\n-----END PRIVATE KEY-----\\n"}}', PEM_BODY[20:60]),
    ("gcp_private_key_id", '"private_key_id": "4c1f2e9a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e"',
     "4c1f2e9a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e"),
    ("azure_storage", f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={A40}Qw==;EndpointSuffix=core",
     f"{A40}Qw=="),
    ("azure_sas", "https://acme.blob.core.windows.net/c/b.bin?sv=2022-11-02&sig=Qm9ndXNTaWduYXR1cmVWYWx1ZQ%3D",
     "Qm9ndXNTaWduYXR1cmVWYWx1ZQ"),
    ("azure_functions_key", "x-functions-key: Fk7Hj2Lp9Qr4Ts6Vw8Yz1Ab3Cd5Ef", "Fk7Hj2Lp9Qr4Ts6Vw8Yz1Ab3Cd5Ef"),
    ("azure_sb", "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=Sb4Kx9Lm2Np7Qr",
     "Sb4Kx9Lm2Np7Qr"),
    ("s3_presigned", "GET https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=5e6f7a8b9c0d1e2f3a4b",
     "5e6f7a8b9c0d1e2f3a4b"),
    # code hosting and package registries
    ("github_pat_classic", "git clone https://ghp_R4nd0mT0k3nV4lu3F0rT3st1ngAb12@github.com/a/b",
     "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngAb12"),
    ("github_pat_fine", "GITHUB_TOKEN github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
    ("github_oauth", "oauth gho_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8", "gho_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"),
    ("gitlab_pat", "PRIVATE-TOKEN: glpat-Xy7Zw9Vu3Ts1Rq5Po2Nm", "glpat-Xy7Zw9Vu3Ts1Rq5Po2Nm"),
    ("npm_token", f"//registry.npmjs.org/:_authToken=npm_{B36}", f"npm_{B36}"),
    ("pypi_token", "password: pypi-AgEIcHlwaS5vcmcCJDU2ZTg5YWJjLWRlZjAtNDEyMy05NDU2LTc4OWFiY2RlZjAxMgACKlsz",
     "pypi-AgEIcHlwaS5vcmcCJDU2ZTg5YWJjLWRlZjAtNDEy"),
    ("hugging_face", "HF_TOKEN=hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456", "hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456"),
    # AI providers
    ("openai_key", "OPENAI_API_KEY=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56"),
    ("openai_in_text", "401 Incorrect API key provided: sk-Zy98Xw76Vu54Ts32Rq10Po98", "sk-Zy98Xw76Vu54Ts32Rq10Po98"),
    ("anthropic_key", "x-api-key: sk-ant-api03-Qw12Er34Ty56Ui78Op90As12Df34Gh56-AAAA",
     "sk-ant-api03-Qw12Er34Ty56Ui78Op90As12Df34Gh56"),
    ("anthropic_in_text", "client = Anthropic(api_key='sk-ant-api03-Mn09Bv87Cx65Zl43Kj21Hg')",
     "sk-ant-api03-Mn09Bv87Cx65Zl43Kj21Hg"),
    # payments and SaaS
    ("stripe_secret", "stripe.api_key = sk_live_51HxYzAbCdEfGh1234567890IjKlMn", "sk_live_51HxYzAbCdEfGh1234567890IjKlMn"),
    ("stripe_restricted", "using rk_live_51QwErTy0987654321AsDfGhJkLz", "rk_live_51QwErTy0987654321AsDfGhJkLz"),
    ("stripe_webhook", "STRIPE_WEBHOOK_SECRET whsec_5aB6cD7eF8gH9iJ0kL1mN2oP3qR4sT", "whsec_5aB6cD7eF8gH9iJ0kL1mN2oP3qR4sT"),
    ("sendgrid", "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", "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnop"),
    ("twilio_key", f"twilio SK{HEX32} rotated", f"SK{HEX32}"),
    ("mailgun", f"api:key-{HEX32}", f"key-{HEX32}"),
    ("slack_bot", "SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
     "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack_webhook", "posting to https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/Xy7Zw9Vu3Ts1Rq5Po2NmLk8J",
     "Xy7Zw9Vu3Ts1Rq5Po2NmLk8J"),
    ("discord_webhook", "https://discord.com/api/webhooks/123456789012345678/Ab-Cd_Ef12Gh34Ij56Kl78Mn90OpQrStUvWx",
     "Ab-Cd_Ef12Gh34Ij56Kl78Mn90OpQrStUvWx"),
    ("discord_bot", "Bot token MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.MnOpQrStUvWxYz0123456789AbCdEfGhIjKl",
     "MnOpQrStUvWxYz0123456789AbCdEfGhIjKl"),
    ("telegram_bot", "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
    ("telegram_proxy", "https://tg-proxy.internal/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
    ("telegram_token_text", "bot 987654321:AAFq1w2e3r4t5y6u7i8o9p0a1s2d3f4g5hj online", "AAFq1w2e3r4t5y6u7i8o9p0a1s2d3f4g5hj"),
    ("shopify", "X-Shopify-Access-Token shpat_0123456789abcdef0123456789abcdef", "shpat_0123456789abcdef0123456789abcdef"),
    ("digitalocean", "DO token dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef",
     "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef"),
    # keys and certificates
    ("pem_rsa", f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY[::-1]}\n-----END RSA PRIVATE KEY-----",
     PEM_BODY[::-1][:40]),
    ("pem_pkcs8_cut", f"key file: -----BEGIN PRIVATE KEY-----\n{PEM_BODY}", PEM_BODY[10:50]),
    ("openssh", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_BODY}\n-----END OPENSSH PRIVATE KEY-----", SSH_BODY[12:52]),
    ("pgp", f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF{PEM_BODY[:40]}\n-----END PGP PRIVATE KEY BLOCK-----",
     PEM_BODY[:40]),
    ("age", "AGE-SECRET-KEY-1QYZ8X7W6V5U4T3S2R1Q0P9N8M7L6K5J4H3G2F1E0D9C8B7A6Z5Y4X3W2V1",
     "AGE-SECRET-KEY-1QYZ8X7W6V5U4T3S2R1Q0P9N8M7L6K5J4H3G2F1E0"),
    ("jwt", "id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXZhbHVlLWhlcmU",
     "eyJzdWIiOiJ1c2VyLTQyIn0"),
    ("jwt_bare", "cached eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYWRtaW4ifQ.ZmFrZXNpZ25hdHVyZQ done",
     "eyJyb2xlIjoiYWRtaW4ifQ"),
    # HTTP
    ("bearer_header", "Authorization: Bearer 7f3k9Lq2Xw8Zp5Rv1Ty6Un4Mb0", "7f3k9Lq2Xw8Zp5Rv1Ty6Un4Mb0"),
    ("bearer_lower", "authorization=bearer Qp0Wo9Ei8Ru7Ty6", "Qp0Wo9Ei8Ru7Ty6"),
    ("basic_header", f"Authorization: Basic {BASIC}", BASIC),
    ("basic_in_text", f"retrying with Basic {BASIC[::-1]}", BASIC[::-1]),
    ("cookie", "Cookie: theme=dark; sessionid=s3ss10nV4lu3Xy9; csrftoken=Cs7fT0k3nQ2", "s3ss10nV4lu3Xy9"),
    ("cookie_csrf", "Cookie: theme=dark; sessionid=x; csrftoken=Cs7fT0k3nQ2wE8rT", "Cs7fT0k3nQ2wE8rT"),
    ("set_cookie", "Set-Cookie: __Host-sid=Zq8Wx7Ec6Rv5Tb4; Path=/; Secure; HttpOnly", "Zq8Wx7Ec6Rv5Tb4"),
    ("x_api_key_header", "X-API-Key: Xk4Lp8Zq2Wn6Rm", "Xk4Lp8Zq2Wn6Rm"),
    ("ocp_apim", "Ocp-Apim-Subscription-Key: 0a1b2c3d4e5f6a7b8c9d", "0a1b2c3d4e5f6a7b8c9d"),
    ("url_userinfo", "connecting to https://deploy:Us3rInf0Pw@ci.example.com/hook", "Us3rInf0Pw"),
    ("url_query_token", "GET https://api.example.com/v1/run?access_token=Qu3ryT0k3nV4l&x=1", "Qu3ryT0k3nV4l"),
    ("url_query_sig", "https://cdn.example.com/f.png?Expires=1&Signature=S1gn4tur3V4lue&Key-Pair-Id=K", "S1gn4tur3V4lue"),
    # databases
    ("postgres_url", "DATABASE_URL=postgresql://app:Pg5ecretPw@db.internal:5432/app", "Pg5ecretPw"),
    ("mongodb_url", "mongodb+srv://root:M0ng0Pw9@cluster0.example.net/?retryWrites=true", "M0ng0Pw9"),
    ("redis_url", "redis://:R3d1sPassw0rd@cache:6379/0", "R3d1sPassw0rd"),
    ("odbc", "Server=tcp:db,1433;Database=app;User Id=sa;Pwd=0dbcPwdV4l;Encrypt=yes", "0dbcPwdV4l"),
    ("jdbc_password", "jdbc:mysql://db:3306/app?user=app&password=JdbcPw77x", "JdbcPw77x"),
    # config and command lines
    ("password_kv", "login failed password=Hunt3rKv22", "Hunt3rKv22"),
    ("password_json", '{"user": "bob", "password": "Hunt3rJs0n"}', "Hunt3rJs0n"),
    ("client_secret_json", '{"client_id": "abc", "client_secret": "Cl13ntS3cr3tV"}', "Cl13ntS3cr3tV"),
    ("password_yaml", "db:\n  password: Hunt3rYaml9\n  host: x", "Hunt3rYaml9"),
    ("passwd_flag", "running pg_dump --password Hunt3rFl4g -h db", "Hunt3rFl4g"),
    ("api_key_flag", "cli --api-key=Fl4gK3yV4lu3 run", "Fl4gK3yV4lu3"),
    ("pwd_env", "PWD_ADMIN not set; pwd=Pwd3nvV4l", "Pwd3nvV4l"),
    ("passcode", "passcode: 4815162342", "4815162342"),
    ("secret_env", "export APP_SECRET=S3cr3tEnvV4l", "S3cr3tEnvV4l"),
    ("session_id", "session_id=Sess10nIdV4lue", "Sess10nIdV4lue"),
    ("private_key_inline", "private_key: PkInl1n3V4lue", "PkInl1n3V4lue"),
    ("auth_kv", "auth=Au7hK3yV4l", "Au7hK3yV4l"),
]

assert len({kind for kind, _, _ in CORPUS}) == len(CORPUS) >= 60
assert all(secret in text for _, text, secret in CORPUS), [k for k, t, s in CORPUS if s not in t]

# Attribute keys that name a secret: their values must be redacted whatever they look like.
SECRET_KEYS: dict[str, str] = {
    "pwd": "Plain7Pwd", "passcode": "Plain8Code", "auth": "Plain9Auth", "key": "Plain0Key",
    "session.id": "Plain1Sess", "db.connection_string": "Plain2Conn", "x-functions-key": "Plain3Func",
    "http.request.header.authorization": "Plain4Hdr", "http.request.header.cookie": "Plain5Cookie",
    "api_key": "Plain6Api", "password": "Hunt3rStructPw",
}  # fmt: skip


def planted() -> list[str]:
    """Every secret value that must never be found."""
    return [secret for _, _, secret in CORPUS] + list(SECRET_KEYS.values())


def leaks(strings: list[str]) -> list[str]:
    """The planted secrets found in any of ``strings``."""
    found = []
    blob = "\n".join(strings)
    for secret in planted():
        if secret in blob:
            found.append(secret)
    return found
