"""The built-in engine's reply: a per-category template that restates the customer's issue.

The rules are the LLM's (triage_hub/triage/prompt.py): courteous, acknowledge the issue, ask for
what helps; never promise refunds, credits, deadlines or fixes, never invent account details.
The one sentence quoted from the customer is stripped of markdown and angle brackets, so the
draft carries no HTML of theirs and no formatting that could break the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triage_hub.engines.builtin.cues import (
    CATEGORY_CUES,
    SEVERITY_CUES,
    URGENCY_OVERRIDES,
    fold_text,
)

QUOTE_MAX_CHARS = 200
# The issue is stated early: only the first sentences of the opening compete (and the cost
# stays bounded: splitting and scoring a 5,000-character mail took ~2.5 ms).
_MAX_SENTENCES = 20
_MAX_CHARS = 1000
_MIN_WORDS = 4


@dataclass(frozen=True)
class Template:
    """One language's wording; `topic`, `team` and `ask` are per category."""

    greeting: str
    intro: str  # "{topic}" is replaced
    topic: dict[str, str]
    priority: str
    team: dict[str, str]
    ask: dict[str, str]
    closing: str


TEMPLATES: dict[str, Template] = {
    "en": Template(
        greeting="Hello,",
        intro="thank you for your message about {topic}. This is how we understand it:",
        topic={
            "Billing": "your billing",
            "Technical": "a technical problem",
            "Feature Request": "a suggestion for the product",
        },
        priority="We are treating this as a priority.",
        team={
            "Billing": "Our billing team will review the charges, invoices or plan details you "
            "mention and reply to you here.",
            "Technical": "Our technical team will look into it and get back to you here.",
            "Feature Request": "We have passed your suggestion on to our product team, who "
            "review every request.",
        },
        ask={
            "Billing": "If you have them at hand, please reply with the invoice number, or the "
            "date and amount of the charge in question.",
            "Technical": "If you can, please reply with the steps that lead to the problem, when "
            "it happened and any error message or screenshot.",
            "Feature Request": "If you like, tell us more about how you would use it; that helps "
            "us understand what matters most to you.",
        },
        closing="Kind regards,  \nThe support team",
    ),
    "de": Template(
        greeting="Guten Tag,",
        intro="vielen Dank für Ihre Nachricht zu {topic}. So haben wir Ihr Anliegen verstanden:",
        topic={
            "Billing": "Ihrer Abrechnung",
            "Technical": "einem technischen Problem",
            "Feature Request": "einem Vorschlag für unser Produkt",
        },
        priority="Wir behandeln Ihr Anliegen mit Priorität.",
        team={
            "Billing": "Unser Abrechnungsteam prüft die genannten Abbuchungen, Rechnungen oder "
            "Tarifangaben und antwortet Ihnen hier.",
            "Technical": "Unser technisches Team sieht sich das an und meldet sich hier bei Ihnen.",
            "Feature Request": "Wir haben Ihren Vorschlag an unser Produktteam weitergegeben, "
            "das jede Anfrage prüft.",
        },
        ask={
            "Billing": "Falls zur Hand, nennen Sie uns bitte die Rechnungsnummer oder Datum und "
            "Betrag der betreffenden Abbuchung.",
            "Technical": "Wenn möglich, schicken Sie uns bitte die Schritte, die zu dem Problem "
            "führen, den Zeitpunkt und eine etwaige Fehlermeldung oder einen Screenshot.",
            "Feature Request": "Wenn Sie mögen, erzählen Sie uns gern, wie Sie die Funktion "
            "nutzen würden; das hilft uns zu verstehen, was Ihnen am wichtigsten ist.",
        },
        closing="Freundliche Grüße  \nIhr Support-Team",
    ),
    "es": Template(
        greeting="Hola:",
        intro="gracias por su mensaje sobre {topic}. Así hemos entendido su consulta:",
        topic={
            "Billing": "su facturación",
            "Technical": "un problema técnico",
            "Feature Request": "una sugerencia para el producto",
        },
        priority="Estamos tratando su caso con prioridad.",
        team={
            "Billing": "Nuestro equipo de facturación revisará los cargos, facturas o datos del "
            "plan que menciona y le responderá aquí.",
            "Technical": "Nuestro equipo técnico lo revisará y se pondrá en contacto con usted "
            "aquí.",
            "Feature Request": "Hemos trasladado su sugerencia a nuestro equipo de producto, que "
            "revisa todas las solicitudes.",
        },
        ask={
            "Billing": "Si los tiene a mano, indíquenos el número de factura o la fecha y el "
            "importe del cargo en cuestión.",
            "Technical": "Si puede, indíquenos los pasos que llevan al problema, cuándo ocurrió y "
            "cualquier mensaje de error o captura de pantalla.",
            "Feature Request": "Si lo desea, cuéntenos cómo usaría esta función; nos ayuda a "
            "entender qué es lo más importante para usted.",
        },
        closing="Un saludo,  \nEl equipo de soporte",
    ),
    "fr": Template(
        greeting="Bonjour,",
        intro="merci pour votre message concernant {topic}. Voici comment nous avons compris "
        "votre demande :",
        topic={
            "Billing": "votre facturation",
            "Technical": "un problème technique",
            "Feature Request": "une suggestion pour le produit",
        },
        priority="Nous traitons votre demande en priorité.",
        team={
            "Billing": "Notre équipe facturation va examiner les prélèvements, factures ou "
            "informations d'abonnement que vous mentionnez et vous répondra ici.",
            "Technical": "Notre équipe technique va examiner le problème et reviendra vers vous "
            "ici.",
            "Feature Request": "Nous avons transmis votre suggestion à notre équipe produit, qui "
            "étudie chaque demande.",
        },
        ask={
            "Billing": "Si vous les avez sous la main, merci de nous indiquer le numéro de "
            "facture, ou la date et le montant du prélèvement concerné.",
            "Technical": "Si possible, merci de nous indiquer les étapes qui mènent au problème, "
            "le moment où il s'est produit et tout message d'erreur ou capture d'écran.",
            "Feature Request": "Si vous le souhaitez, dites-nous comment vous utiliseriez cette "
            "fonctionnalité ; cela nous aide à comprendre ce qui compte le plus pour vous.",
        },
        closing="Cordialement,  \nL'équipe support",
    ),
}

# Per category, one pattern for every cue that says what the ticket is about (one search per
# sentence instead of one per cue).
_INFORMATIVE = {
    category: re.compile(
        "|".join(
            [f"(?:{p.pattern})" for p in patterns]
            + [f"(?:{p.pattern})" for p in SEVERITY_CUES["High"]]
            + [f"(?:{o.pattern.pattern})" for o in URGENCY_OVERRIDES]
        )
    )
    for category, patterns in CATEGORY_CUES.items()
}
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# A line that is only a greeting or a sign-off ("Hi team,", "Best regards", "Sent from my
# iPhone") is a formula, not the issue; a sign-off also ends the customer's own text.
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|hallo|guten (?:tag|morgen)|liebe[rs]?|hola|buenas|buenos días|"
    r"estimad[oa]s?|bonjour|bonsoir|salut|ciao|buongiorno|bom dia|olá|goedemorgen)\b[^.!?]{0,40}$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^(?:thanks|thank you|many thanks|cheers|best|regards|kind regards|best regards|sincerely|"
    r"sent from my|danke|vielen dank|viele grüße|beste grüße|mit freundlichen grüßen|lg|mfg|"
    r"gracias|muchas gracias|un saludo|saludos|atentamente|merci|cordialement|bien à vous|"
    r"bonne journée|grazie|cordiali saluti|obrigad[oa]|met vriendelijke groet)\b",
    re.IGNORECASE,
)
# "Hi team, the export ..." → "the export ...".
_LEADING_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|hallo|hola|buenas|bonjour|salut|ciao|buongiorno|bom dia|olá)\b"
    r"[^,!.:;\n]{0,25}[,!.:;]\s+",
    re.IGNORECASE,
)
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[<>`*_~#|\[\]\\{}]")
_LEADING_PUNCT = re.compile(r"^[^\w\"'“„«¿¡(]+")


def render_draft(message: str, category: str, urgency: str, language: str) -> str:
    """The reply in the customer's language (English when there is no template for it)."""
    template = TEMPLATES.get(language, TEMPLATES["en"])
    parts = [template.greeting, template.intro.format(topic=template.topic[category])]
    quote = issue_sentence(message, category)
    if quote:
        parts.append(f"> {quote}")
    team = template.team[category]
    parts.append(f"{template.priority} {team}" if urgency == "High" else team)
    parts.append(template.ask[category])
    parts.append(template.closing)
    return "\n\n".join(parts)


def issue_sentence(message: str, category: str) -> str:
    """The customer's most informative sentence, cleaned and capped ("" when there is none)."""
    sentences = _candidate_sentences(message[:_MAX_CHARS])
    if len(sentences) <= 1:
        return _cap(sentences[0]) if sentences else ""
    best = max(enumerate(sentences), key=lambda item: (_score(item[1], category), -item[0]))
    return _cap(best[1])


def clean_text(text: str) -> str:
    """Plain text: no markdown, no angle brackets or backticks, one line."""
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _MARKUP.sub(" ", text)
    text = " ".join(text.split())
    return _LEADING_PUNCT.sub("", text)


def _candidate_sentences(message: str) -> list[str]:
    lines = [line.strip() for line in message.splitlines()]
    kept: list[str] = []
    for line in lines:
        if not line:
            continue
        if _SIGN_OFF.match(line) and len(line.split()) <= 6:
            break  # what follows a sign-off is a signature
        if _GREETING.match(line):
            continue
        kept.append(line)
    sentences = []
    for line in kept:
        for sentence in _SENTENCE_END.split(line):
            sentence = clean_text(_LEADING_GREETING.sub("", sentence))
            if sentence and not (_GREETING.match(sentence) or _SIGN_OFF.match(sentence)):
                sentences.append(sentence)
    long_enough = [s for s in sentences if len(s.split()) >= _MIN_WORDS]
    return (long_enough or sentences)[:_MAX_SENTENCES]


def _score(sentence: str, category: str) -> float:
    """Cue matches say what the ticket is about; length breaks ties up to ~30 words."""
    hits = sum(1 for _ in _INFORMATIVE[category].finditer(fold_text(sentence)))
    return 2 * hits + min(len(sentence.split()), 30) / 30


def _cap(sentence: str) -> str:
    if len(sentence) <= QUOTE_MAX_CHARS:
        return sentence
    cut = sentence[: QUOTE_MAX_CHARS - 1]
    space = cut.rfind(" ")
    if space > QUOTE_MAX_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"
