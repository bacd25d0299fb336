"""Password reset by email: the link is on the address the site was reached on, the answer never
says whether an address is registered, and an operator-created owner can choose a first password."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from registry.models import User
from registry.services import person_create

pytestmark = pytest.mark.django_db

OLD, NEW = "correct horse battery staple", "a brand new passphrase 42"


def reset_link(client: Client, email: str, host: str = "registry.example.test:8443") -> str:
    response = client.post("/password-reset/", {"email": email}, HTTP_HOST=host, follow=True)
    assert response.status_code == 200
    assert "If an account uses that address" in response.content.decode()
    (message,) = mail.outbox
    return next(word for word in message.body.split() if "/password-reset/" in word)


def test_a_person_resets_their_password_from_an_emailed_link(settings):
    settings.ALLOWED_HOSTS = ["registry.example.test", "testserver"]
    person_create(email="lena@example.org", display_name="Lena", password=OLD)
    client = Client()
    assert 'id="forgot-password"' in client.get("/login/").content.decode()

    link = reset_link(client, "Lena@Example.ORG")  # any case, like sign-in
    assert link.startswith("http://registry.example.test:8443/password-reset/")
    form = client.get(urlsplit(link).path, follow=True, HTTP_HOST="registry.example.test:8443")
    assert 'id="new-password-form"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW, "new_password2": NEW},
        HTTP_HOST="registry.example.test:8443",
        follow=True,
    )
    assert "Your new password is saved" in done.content.decode()
    assert Client().login(username="lena@example.org", password=NEW)
    assert not Client().login(username="lena@example.org", password=OLD)

    # The link works once.
    again = client.get(urlsplit(link).path, follow=True, HTTP_HOST="registry.example.test:8443")
    assert 'id="reset-link-invalid"' in again.content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email():
    response = Client().post("/password-reset/", {"email": "nobody@example.org"}, follow=True)
    assert "If an account uses that address" in response.content.decode()
    assert mail.outbox == []


def test_an_owner_created_without_a_password_chooses_one_by_reset():
    owner = User.objects.create_user(email="owner@studio.example", password=None)
    assert not owner.has_usable_password()
    link = reset_link(Client(), "owner@studio.example", host="testserver")
    client = Client()
    form = client.get(urlsplit(link).path, follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert Client().login(username="owner@studio.example", password=NEW)


def test_a_weak_new_password_is_refused_with_a_reason():
    person_create(email="kai@example.org", display_name="Kai", password=OLD)
    client = Client()
    link = reset_link(client, "kai@example.org", host="testserver")
    form = client.get(urlsplit(link).path, follow=True)
    refused = client.post(
        form.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"}
    )
    assert refused.status_code == 200
    assert "too common" in refused.content.decode() or "entirely numeric" in (
        refused.content.decode()
    )
