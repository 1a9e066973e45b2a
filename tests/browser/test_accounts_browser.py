"""A new user joins and signs in, in a real browser."""


def test_a_new_user_joins_from_the_home_page(live_server, page):
    page.goto(live_server)
    page.get_by_role("button", name="Join").click()  # the nav link is styled as a button
    page.fill("#f-name", "Grace Hopper")
    page.fill("#f-email", "grace@example.org")
    page.fill("#f-department", "IT")
    page.fill("#f-password", "correct horse")
    page.get_by_role("button", name="Create my account").click()
    page.get_by_role("link", name="Grace Hopper").click()
    assert page.locator("h1").inner_text() == "Grace Hopper"


def test_a_bad_email_is_shown_next_to_the_field_and_the_form_keeps_the_input(live_server, page):
    page.goto(f"{live_server}/register")
    page.fill("#f-name", "<b>Grace</b>")
    page.fill("#f-email", "not an email")
    page.fill("#f-department", "IT")
    page.fill("#f-password", "correct horse")
    page.get_by_role("button", name="Create my account").click()
    assert "look like" in page.locator("#e-email").inner_text()
    assert page.input_value("#f-name") == "<b>Grace</b>"
    assert page.locator("b", has_text="Grace").count() == 0
