"""The interface's language (issue 24): a browser whose language is Russian gets the Russian
interface from the first screen (sign-up) on, with times written the Russian way; Settings →
Language picks English (or Russian, or back to the browser's) on this device, after a reload;
an English browser next to it is unchanged."""

# The Russian texts are Cyrillic on purpose (RUF001 takes some letters for look-alikes).
# ruff: noqa: RUF001

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app.conftest import PASSWORD, SLOW, Person, shot, unlock
from tests.support.axe import assert_accessible

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The message times: "14:05" in Russian, "02:05 PM" in American English (the browser's English).
RU_TIME = re.compile(r"^\d{2}:\d{2}$")
EN_TIME = re.compile(r"^\d{2}:\d{2}\s?[AP]M$")


def lang(page: Page) -> str:
    return str(page.evaluate("() => document.documentElement.lang"))


def sign_up_in_russian(person: Person, shots: str | None = None) -> None:
    """The sign-up of conftest's Person.sign_up, read in Russian."""
    page = person.page
    person.open()
    expect(page.get_by_role("heading", name="Talkee")).to_be_visible()
    assert lang(page) == "ru"
    expect(
        page.get_by_text("Сквозное шифрование сообщений. Ваши ключи никогда не покидают это устройство.")
    ).to_be_visible()
    expect(page.get_by_role("navigation", name="Учётная запись").get_by_role("button")).to_have_text(
        ["Регистрация", "Войти", "Восстановить доступ"]
    )
    if shots is not None:
        assert_accessible(page, f"sign-up in Russian ({shots})")
        shot(page, f"24c-ru-welcome-{shots}")
    page.get_by_label("Имя пользователя").fill(person.name)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_label("Повторите пароль").fill(PASSWORD + "!")
    page.locator("form").get_by_role("button", name="Создать учётную запись").click()
    expect(page.get_by_role("alert")).to_have_text("Пароли не совпадают.")
    page.get_by_label("Повторите пароль").fill(PASSWORD)
    page.locator("form").get_by_role("button", name="Создать учётную запись").click()
    phrase = page.get_by_role("list", name="Фраза восстановления")
    expect(phrase).to_be_visible()
    expect(page.get_by_role("heading", name="Ваша фраза восстановления")).to_be_visible()
    words = phrase.locator("li").all_inner_texts()
    assert len(words) == 12
    page.get_by_role("button", name="Я записал(а) их").click()
    for index in (3, 7, 11):
        page.get_by_label(f"Слово {index}", exact=True).fill(words[index - 1])
    page.get_by_role("button", name="Подтвердить и создать учётную запись").click()
    expect(page.get_by_role("status", name="Соединение")).to_have_text("Подключено", timeout=SLOW)


def test_a_russian_browser_gets_the_russian_interface_until_english_is_picked(people: Any) -> None:
    olga = people("olga", locale="ru-RU")
    bob = people("bob")  # an English browser beside her
    sign_up_in_russian(olga, shots="desktop")
    page = olga.page
    expect(page.get_by_text("Чатов пока нет. Начните чат, введя имя пользователя выше.")).to_be_visible()
    expect(page.get_by_role("button", name="Новая группа или канал")).to_be_visible()
    bob.sign_up()
    expect(bob.page.get_by_text("No chats yet. Start one with a username above.")).to_be_visible()
    assert lang(bob.page) == "en"

    # A direct chat, written from both sides: each reads the times in their own language.
    page.get_by_label("Кому написать (имя пользователя)").fill(bob.name)
    page.get_by_role("button", name="Начать чат").click()
    composer = page.get_by_role("textbox", name="Сообщение", exact=True)
    expect(composer).to_be_visible(timeout=SLOW)
    expect(composer).to_have_attribute("placeholder", "Сообщение")
    expect(page.get_by_role("button", name=f"Заблокировать {bob.name}")).to_be_visible()
    expect(page.get_by_role("searchbox", name="Поиск сообщений")).to_be_visible()
    composer.fill("Привет, Боб")
    composer.press("Enter")
    log = page.get_by_role("log", name="Сообщения")
    mine = log.locator("li.msg.mine").filter(has_text="Привет, Боб")
    expect(mine.get_by_role("img", name=re.compile("^(Отправлено|Доставлено|Прочитано)$"))).to_be_visible(timeout=SLOW)
    expect(mine.locator("time")).to_have_text(RU_TIME)
    bob.open_chat(olga.name)
    bob.expect_message("Привет, Боб")
    expect(bob.message("Привет, Боб").locator("time")).to_have_text(EN_TIME)
    bob.say("Hello Olga")
    theirs = log.locator("li.msg.theirs").filter(has_text="Hello Olga")
    expect(theirs).to_have_count(1, timeout=SLOW)
    expect(theirs.get_by_role("group", name=f"Действия с сообщением от {bob.name}")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile(rf"^Открыть чат {bob.name}"))).to_be_visible()
    expect(page.locator(".chat-row time").first).to_have_text(RU_TIME)
    assert_accessible(page, "conversation in Russian")
    shot(page, "24d-ru-conversation")

    # Settings in Russian; the language follows the browser until one is picked.
    page.get_by_role("button", name="Настройки").click()
    expect(page.get_by_role("heading", name="Настройки", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Ваши устройства")).to_be_visible()
    expect(page.get_by_role("list", name="Ваши устройства")).to_contain_text("Это устройство")
    expect(page.get_by_role("list", name="Ваши устройства")).to_contain_text("Активно сейчас")
    choice = page.get_by_label("Язык приложения")
    expect(choice).to_have_value("system")
    expect(choice.locator("option")).to_have_text(["Как в браузере", "English", "Русский"])
    assert_accessible(page, "settings in Russian")
    choice.scroll_into_view_if_needed()
    shot(page, "24e-ru-settings")

    # English on this device: the page reloads in English (the vault locks on a reload).
    choice.select_option("en")
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    assert lang(page) == "en"
    unlock(olga)
    expect(page.get_by_role("button", name="Settings")).to_be_visible()
    olga.open_chat(bob.name)
    expect(olga.message("Hello Olga")).to_have_count(1, timeout=SLOW)
    expect(olga.message("Hello Olga").locator("time")).to_have_text(EN_TIME)
    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_label("App language")).to_have_value("en")
    page.get_by_label("App language").scroll_into_view_if_needed()
    shot(page, "24f-en-settings-on-a-russian-browser")

    # Back to the browser's language: Russian again, from the lock screen on.
    page.get_by_label("App language").select_option("system")
    expect(page.get_by_role("heading", name="С возвращением")).to_be_visible()
    assert lang(page) == "ru"
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Открыть").click()
    expect(page.get_by_role("status", name="Соединение")).to_have_text("Подключено", timeout=SLOW)
    expect(page.get_by_role("button", name="Настройки")).to_be_visible()


def test_the_russian_interface_on_a_phone(people: Any) -> None:
    pavel = people("pavel", viewport={"width": 390, "height": 844}, locale="ru-RU")
    sign_up_in_russian(pavel, shots="phone")
    page = pavel.page
    assert_accessible(page, "chat list in Russian (phone)")
    shot(page, "24g-ru-chat-list-phone")
    page.get_by_role("button", name="Новая группа или канал").click()
    page.get_by_label("Название", exact=True).fill("Книжный клуб")
    page.get_by_role("button", name="Создать", exact=True).click()
    expect(page.get_by_role("textbox", name="Сообщение", exact=True)).to_be_visible(timeout=SLOW)
    expect(page.locator(".conv-status")).to_have_text("Участников: 1 · владелец")
    page.get_by_label("Таймер этого чата").select_option("3600")
    expect(page.get_by_role("log", name="Сообщения")).to_contain_text(
        "Вы установили таймер самоуничтожения: 1 час", timeout=SLOW
    )
    assert_accessible(page, "conversation in Russian (phone)")
    shot(page, "24h-ru-conversation-phone")
