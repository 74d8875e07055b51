"""Transparent keyword cues: a category prior, and the short list of urgency overrides.

The category cues nudge the learned model (they are a prior, not features it trains on); the
urgency overrides force High for a few situations the labelling guide always calls High. Both
are written from the guide's definitions (evals/LABELLING.md) in English, German, Spanish and
French (a few Italian and Portuguese stems ride along where they are the same word), never
from the held-out set.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# Patterns are written in lower case and matched against casefolded text (fold_text), which
# is faster than IGNORECASE (a third of the time) and treats "ß" and friends alike.
_FLAGS = re.UNICODE


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), _FLAGS)


_FRENCH_HOW = (
    r"\bcomment (?:est-ce|faire|puis|peut|peux|pouvons|on (?:fait|peut|doit)|je|j'|fait|"
    r"fonctionne|activer|ajouter|changer|modifier|supprimer|r[ée]cup[ée]rer|obtenir|trouver|"
    r"t[ée]l[ée]charger)\b|\bfai(?:t|s) comment\b"
)


# Each entry is one cue; a ticket's cue count for a category is the number of entries that match
# (an entry that matches twice still counts once).
CATEGORY_CUES: Mapping[str, tuple[re.Pattern[str], ...]] = {
    "Billing": (
        _any(r"\bcharg(?:e|ed|es|ing)\b", r"\babbuch", r"\babgebucht", r"\bcobr[aoáé]"),
        _any(r"\bcargos?\b", r"\bpr[ée]l[eè]v", r"\bd[ée]bit[ée]", r"\baddebit"),
        _any(r"\brefund", r"\berstatt", r"\breembols", r"\bdevoluci[oó]n", r"\brembours"),
        _any(r"\binvoice", r"\breceipt", r"\brechnung", r"\bfactur", r"\bfattur", r"\bfatura"),
        _any(r"\bbill(?:ed|ing)?\b", r"\bbilan\b"),
        _any(r"\bpayments?\b", r"\bpaid\b", r"zahlung", r"\bbezahl", r"\bpag[oaó]"),
        # what something costs, asked the same way in each language (LABELLING.md §4)
        _any(r"\bhow much\b", r"\bwie ?viel", r"\bcu[áa]nto", r"\bcombien\b", r"\bquanto"),
        _any(r"\babrechn", r"\babgerechnet", r"\bkostet\b", r"\bcuesta\b", r"\bco[uû]te\b"),
        _any(r"\bpaiement", r"\bpay[ée]", r"\bpagament"),
        _any(r"\bsubscription", r"\babo\b", r"\babonnement", r"\bsuscripci", r"\babbonament"),
        _any(r"\bassinatura"),
        _any(r"\b(?:up|down)grad", r"\bplans?\b(?! to\b)", r"\btarif", r"\bforfait"),
        _any(r"\bpric(?:e|es|ed|ing)\b", r"\bpreis", r"\bprecio", r"\bprix\b", r"\bprezz"),
        _any(r"\bdiscount", r"\bcoupon", r"\brabatt", r"\bdescuento", r"\bremise\b", r"\bsconto"),
        _any(r"\br[ée]duction", r"\bpromo", r"\berm[äa]ssig", r"\bnachlass"),
        _any(r"\bvat\b", r"\bmwst", r"\bust\b", r"\bust-id", r"\biva\b", r"\btva\b", r"\bprorat"),
        _any(r"\bcredit ?card", r"\bkreditkarte", r"\btarjeta", r"\bcarte bancaire"),
        _any(r"\bdeclined", r"\babgelehnt", r"\brechaz", r"\brefus[ée]e?\b"),
        _any(r"\bcancel(?:led|ed|ling|lation)?\b", r"\bk[üu]ndig", r"\bcancelar", r"\br[ée]sili"),
        _any(r"\btrial\b", r"\brenew", r"\bverl[äa]nger", r"\brenovaci", r"\brenouvel"),
        _any(r"\bchargeback", r"\bdisput", r"\blastschrift", r"\bgutschrift", r"\bavoir\b"),
        _any(r"\bseats?\b", r"\blizenz", r"\blicen[cs]"),
        _any(r"[$€£]\s?\d", r"\d\s?(?:[$€£]|eur\b|euros?\b|usd\b|dollars?\b)"),
        _any(r"\bfees?\b", r"\bgeb[üu]hr", r"\bcomisi[oó]n", r"\bfrais\b"),
    ),
    "Technical": (
        _any(r"\berror", r"\bfehler", r"\berreur", r"\berrore", r"\berro\b", r"\bexception"),
        _any(r"\bcrash", r"\bstürzt", r"\babsturz", r"\babgestürzt", r"\bplant[eé]"),
        _any(r"\bbugs?\b", r"\bbroken\b", r"\bbroke\b", r"\bkaputt"),
        _any(
            r"\b(?:does ?n[o']?t|doesnt|not|stopped|is ?n[o']?t|won'?t|can'?t|cannot|unable to)"
            r" (?:work|load|open|sync|save|connect|log ?in|sign ?in|access|send|upload)",
        ),
        _any(r"funktioniert (?:nicht|nicht mehr)", r"\bgeht nicht", r"\bklappt nicht"),
        _any(
            r"\bno funciona", r"\bno carga", r"\bne fonctionne", r"\bne marche", r"\bnon funziona"
        ),
        _any(r"\bfail(?:s|ed|ing|ure)?\b", r"\bfalla", r"\bfallo\b", r"\b[ée]chou"),
        _any(r"\btime ?out", r"\btimed out", r"\bslow\b", r"\blangsam", r"\blent[oae]?s?\b"),
        _any(r"\boutage", r"\bdown\b", r"\bausfall", r"\bca[íi]d[oa]", r"\bpanne\b"),
        _any(r"\blog(?:ged)? ?(?:in|out)", r"\bsign(?:ed)? ?in", r"\blocked out", r"\bgesperrt"),
        _any(r"\bpassword", r"\bpasswort", r"\bkennwort", r"\bcontrase[ñn]a", r"\bmot de passe"),
        _any(r"\b2fa\b", r"\btwo-factor", r"\bsso\b", r"\bsaml\b", r"\bauthenticat"),
        _any(r"\banmeld", r"\beinlogg", r"\biniciar sesi", r"\bconnexion", r"\bse connecter"),
        _any(r"\bsync", r"\bsynchron", r"\bsincroniz", r"\bimport"),
        _any(r"\bapi\b", r"\bwebhook", r"\bendpoint", r"\bintegration (?:stopped|broke|fail)"),
        _any(r"\bdeleted\b", r"\blost\b", r"\bmissing\b", r"\bdisappeared", r"\bwiped"),
        _any(r"\bgel[öo]scht", r"\bverschwunden", r"\bborrad", r"\bdesaparec", r"\bsupprim"),
        _any(r"\bblank\b", r"\bempty\b", r"\bleer\b", r"\bvac[íi][oa]", r"\bvide\b"),
        _any(r"\bfreez", r"\bfrozen", r"\bstuck\b", r"\bh[äa]ngt", r"\bse cuelga", r"\bbloqu"),
        _any(r"\bsince (?:the|your|yesterday|this|last|today|monday|the update)"),
        _any(r"\bseit (?:dem|gestern|heute|dem update)", r"\bdesde (?:ayer|hoy|la)"),
        _any(r"\bdepuis (?:hier|ce matin|la|le)"),
        _any(r"\bgdpr\b", r"\bdsgvo\b", r"\brgpd\b", r"\bdsar\b", r"\berasure"),
        _any(r"\bbreach", r"\bhack", r"\bvulnerab", r"\bleak", r"\bphishing", r"\bpirat"),
        _any(r"\bhow (?:do|can|should) (?:i|we)\b", r"\bwhere (?:do|can|is|are)\b"),
        # French "comment …?" (how), not the English noun: "a comment", "the comment box"
        _any(r"\bwie kann ich", r"\bwo finde", r"\bc[oó]mo (?:puedo|se|hago)", _FRENCH_HOW),
        _any(r"\b(?:4\d\d|5\d\d)\b"),
    ),
    "Feature Request": (
        _any(r"\b(?:please|pls|could you|can you|would you)(?: please)? add\b", r"\badd (?:a|an)"),
        _any(r"\bwould be (?:great|nice|cool|awesome|helpful|useful|good|handy|amazing|lovely)"),
        _any(r"\bit would be\b", r"\bwould love\b", r"\bi'?d love\b", r"\bwould help\b"),
        _any(r"\bfeatures?\b", r"\bfunktion\b", r"\bfuncionalidad", r"\bfonctionnalit"),
        _any(r"\bfunzionalit", r"\bfuncionalidade"),
        _any(r"\bplease support\b", r"\bsupport for\b", r"\bunterst[üu]tz", r"\bsoport"),
        _any(r"\b(?:is|are) there (?:any )?plans?\b", r"\broadmap", r"\bany chance\b"),
        _any(r"\bgeplant", r"\bhoja de ruta", r"\bprevist", r"\bpr[ée]vu", r"\bfeuille de route"),
        _any(r"\bwish", r"\bsuggest", r"\bidea\b", r"\bidee\b", r"\bid[ée]e\b", r"\bvorschlag"),
        _any(r"\bwunsch", r"\bsugerencia", r"\bsuggeriment", r"\bsugest"),
        _any(r"\bintegrat(?:e|ion) with\b", r"\bintegraci[oó]n con", r"\bint[ée]gration avec"),
        _any(r"\boption to\b", r"\bability to\b", r"\ba way to\b", r"\bno way to\b"),
        _any(r"\ballow (?:us|me|users|people)\b", r"\blet (?:us|me|users|people)\b"),
        _any(r"\bwhy (?:on earth )?(?:can'?t|cannot|isn'?t|is there no)\b"),
        _any(r"\bthere'?s no (?:way|option)\b", r"\bdoes ?n[o']?t (?:support|offer|have)\b"),
        _any(r"\bdark mode", r"\bshortcut", r"\bdunkelmodus", r"\bmodo oscuro", r"\bmode sombre"),
        _any(r"\bw[äa]re (?:toll|sch[öo]n|super|gut|praktisch|klasse|hilfreich|n[üu]tzlich|cool)"),
        _any(r"\bsch[öo]n w[äa]re", r"\bk[öo]nnt(?:et)? ihr", r"\beinbauen", r"\bhinzuf[üu]g"),
        _any(r"\bser[íi]a (?:genial|[úu]til|bueno|estupendo|ideal|interesante|fant[áa]stico)"),
        _any(r"\ba[ñn]adir", r"\bagregar", r"\bincorporar", r"\bpodr[íi]ais", r"\bpodr[íi]an"),
        _any(r"\bserait (?:g[ée]nial|bien|utile|super|pratique|top|sympa|id[ée]al)"),
        _any(r"\bajouter", r"\bpourriez", r"\bsarebbe", r"\baggiung", r"\bseria [úu]til"),
        _any(r"\bm[öo]glichkeit", r"\bposibilidad", r"\bpossibilit"),
    ),
}


# Urgency features (LABELLING.md §2): facts that make a ticket High, and marks of a Low one
# (questions, wishes, thanks, cosmetics). The urgency model learns their weights alongside the
# text; tone words ("URGENT", "ASAP", "!!!") are left out on purpose: tone is not urgency.
SEVERITY_CUES: Mapping[str, tuple[re.Pattern[str], ...]] = {
    "High": (
        _any(
            r"\b(?:can'?t|cannot|unable to|not able to) (?:work|operate|do (?:our|my) job|"
            r"take orders|pay|sell|ship)",
            r"\bblocked\b",
            r"\bat a standstill",
            r"\bcompletely stuck",
            r"\bno workaround",
            r"\bkann nicht arbeiten",
            r"\bk[öo]nnen nicht arbeiten",
            r"\bblockiert",
            r"\bno podemos (?:trabajar|tomar|cobrar|vender)",
            r"\bsin poder trabajar",
            r"\bbloqu[ée]",
            r"\bne peu(?:t|vent|x) (?:plus )?(?:travailler|rien faire)",
        ),
        _any(
            r"\blosing (?:money|sales|customers|orders|revenue)",
            r"\bcosting us",
            r"\bverlieren (?:geld|kunden|umsatz)",
            r"\bperdiendo (?:dinero|ventas|clientes)",
            r"\bperdons (?:de l'argent|des ventes|des clients)",
        ),
        _any(
            r"\b(?:chargeback|lawyer|attorney|solicitor|regulator|legal action|court|ftc)\b",
            r"\bdispute (?:the|this|it|with)",
            r"\banwalt",
            r"\bverbraucherzentrale",
            r"\br[üu]cklastschrift",
            r"\blastschriften? (?:\w+ )?zur[üu]ck",
            r"\babogad",
            r"\breclamar al banco",
            r"\bconsumo\b",
            r"\bavocat",
            r"\bopposition\b",
            r"\bdenunci",
        ),
        _any(
            r"\b(?:every|each) (?:day|single day|time)\b",
            r"\b(?:twice|three times|3x|2x|again|third time|second time)\b",
            r"\bdreimal",
            r"\bzweimal",
            r"\bdoppelt",
            r"\bdos veces",
            r"\btres veces",
            r"\bduplicad",
            r"\bdeux fois",
            r"\btrois fois",
            r"\ben double",
        ),
        _any(
            r"\b(?:today|tonight|tomorrow|this morning|in an? hour|in \d+ hours?|by (?:monday|"
            r"tuesday|wednesday|thursday|friday|noon|tonight|eod))\b",
            r"\bdeadline\b",
            r"\b(?:heute|morgen|sofort)\b",
            r"\b(?:hoy|mañana|ya)\b",
            r"\b(?:aujourd'hui|demain|ce soir)\b",
        ),
        _any(
            r"\b(?:everyone|everybody|nobody|no one|whole team|entire team|all (?:of )?our "
            r"(?:users|staff|employees|customers|agents))\b",
            r"\b(?:alle|keiner|niemand|das ganze team)\b",
            r"\b(?:nadie|todo el equipo|todos)\b",
            r"\b(?:personne|toute l'[ée]quipe|tous (?:nos|les) (?:utilisateurs|employ))",
        ),
        _any(
            r"\b(?:suspended|locked|read-only|deactivated|disabled)\b",
            r"\bgesperrt",
            r"\bbloquead",
            r"\bsuspendid",
            r"\bsuspendu",
        ),
        _any(
            r"\b(?:audit|compliance|contract|legal|gdpr|statutory|regulat)\w*",
            r"\bvertrag",
            r"\bpflicht",
            r"\bcontrato",
            r"\bobligad",
            r"\bcontrat",
            r"\bobligatoire",
        ),
    ),
    "Low": (
        _any(
            r"\bhow (?:do|can|would|should) (?:i|we)\b",
            r"\bwhere (?:do|can|is|are)\b",
            r"\bis (?:it|there) (?:possible|a way)\b",
            r"\bdo you (?:offer|have|support)\b",
            r"\bwie kann ich\b",
            r"\bgibt es\b",
            r"\bwo finde",
            r"\bc[oó]mo (?:puedo|se)\b",
            r"\bhay (?:alguna|forma)",
            r"\bten[ée]is\b",
            r"\bcomment (?:faire|puis|je)\b",
            r"\by a-t-il\b",
            r"\best-ce qu",
        ),
        _any(
            r"\b(?:would be (?:nice|cool|great)|would love|just an idea|suggestion|wish|nice to "
            r"have|someday|no rush|not urgent|whenever|no hurry|no big deal|not a big deal|small "
            r"thing|minor|tiny|cosmetic|typo|just curious|curious)\b",
            r"\bkeine eile",
            r"\bnicht dringend",
            r"\bkleinigkeit",
            r"\btippfehler",
            r"\bsin prisa",
            r"\bno es urgente",
            r"\bpeque[ñn]o detalle",
            r"\berrata",
            r"\bpas urgent",
            r"\bpas press[ée]",
            r"\bpetit d[ée]tail",
            r"\bfaute de frappe",
        ),
        _any(
            r"\b(?:thanks|thank you|love the app|love your|great app|keep up)\b",
            r"\bdanke\b",
            r"\bgracias\b",
            r"\bmerci\b",
        ),
        _any(
            r"\b(?:font|colou?r|pixel|alignment|icon|logo|blurry|spacing|wording|translation|"
            r"dark mode)\b"
        ),
    ),
}


@dataclass(frozen=True)
class Override:
    """One documented reason to call a ticket High whatever the model says."""

    name: str
    pattern: re.Pattern[str]


# The guide's "always High" situations (LABELLING.md §2): phrased so that a worry ("what
# happens to my data if ...") or a wish does not match, only a report that it happened.
URGENCY_OVERRIDES: tuple[Override, ...] = (
    Override(
        "data loss",
        _any(
            r"\bdata loss\b",
            # ("all deleted items", an adjective, is a wish to restore, not a report of a loss)
            r"\b(?:all|every|entire|whole)\b(?! deleted)[^.!?\n]{0,40}"
            r"\b(?:deleted|lost|gone|wiped|erased)\b",
            r"\b(?:deleted|lost|wiped|overwr\w*)\b[^.!?\n]{0,30}\b(?:data|records|files|projects|"
            r"notes|workspace|contacts|customers|everything)\b",
            r"\b(?:daten|dateien|alles|alle)\b[^.!?\n]{0,30}\b(?:weg|verloren|gel[öo]scht)\b",
            r"\b(?:datos|archivos|todo)\b[^.!?\n]{0,30}\b(?:perdid|borrad|desaparecid)",
            r"\b(?:donn[ée]es|fichiers|tout)\b[^.!?\n]{0,30}\b(?:perdu|supprim|disparu|effac)",
            # the verb first: "se han borrado todas las notas", "ont supprimé tous nos fichiers"
            r"\b(?:borrad|perdid|desaparecid)\w*\s+(?:todos|todas)\b",
            r"\b(?:supprim|perdu|effac|disparu)\w*\s+(?:tous|toutes)\b",
            r"\b(?:all|every)\b[^.!?\n]{0,40}\b(?:have|has) (?:disappeared|vanished)\b",
        ),
    ),
    Override(
        "breach",
        _any(
            r"\bbreach(?:ed)?\b",
            r"\bhacked\b",
            r"\baccount takeover\b",
            r"\bsomeone (?:has )?(?:logged|got|broke) in",
            r"\bunauthori[sz]ed (?:access|login|logins)\b",
            r"\b(?:data|keys?|passwords?) (?:leak|(?:was |were |is |are )?exposed)",
            r"\bgehackt",
            r"\bdatenleck",
            r"\bhackead",
            r"\bpirat[ée]",
            r"\bfuite de donn",
        ),
    ),
    Override(
        "outage",
        _any(
            r"\boutage\b",
            r"\b(?:site|app|platform|service|everything|api|dashboard|system) (?:is|are|went|has "
            r"been|'s) (?:completely |totally )?down\b",
            r"\bdown for (?:everyone|all|everybody)\b",
            r"\bservice unavailable\b",
            r"\bnicht (?:mehr )?erreichbar",
            r"\bkomplett (?:down|ausgefallen)",
            r"\b(?:plataforma|aplicaci[oó]n|web|servicio) (?:est[áa] )?ca[íi]d",
            r"\bfuera de servicio",
            r"\ben panne\b",
            r"\bhors service\b",
        ),
    ),
    Override(
        "whole team locked out",
        _any(
            r"\b(?:nobody|no ?one|none of us|everyone|everybody|all (?:of )?(?:us|our \w+)|"
            r"(?:whole|entire) (?:team|company|org\w*|office|staff))\b[^.!?\n]{0,40}"
            r"\b(?:can'?t|cannot|unable to|is unable to|are unable to|locked out|logged out)\b",
            # "nobody on my team can open a project", "none of us can": a whole team blocked
            r"\b(?:nobody|no ?one|none of us)\b[^.!?\n]{0,30}\bcan\b(?! (?:see|tell|explain))",
            r"\b(?:keiner|niemand|alle|das ganze team|die ganze firma)\b[^.!?\n]{0,40}"
            r"\b(?:rein|anmelden|einloggen|zugreifen|ausgesperrt|gesperrt)",
            r"\b(?:nadie|todo el equipo|todos)\b[^.!?\n]{0,40}\b(?:entrar|acceder|iniciar sesi)",
            r"\b(?:personne|toute l'[ée]quipe|tous nos|toute l'entreprise)\b[^.!?\n]{0,40}"
            r"\b(?:connect|acc[ée]d|bloqu)",
        ),
    ),
)


def fold_text(text: str) -> str:
    """Lower-case, with typographic apostrophes made plain, so one pattern serves both."""
    text = unicodedata.normalize("NFC", text)
    return text.replace("\u2019", "'").replace("\u2018", "'").casefold()


def category_cue_counts(text: str) -> dict[str, int]:
    """How many distinct cues of each category the text matches."""
    folded = fold_text(text)
    return {
        category: sum(1 for pattern in patterns if _matches(pattern, folded))
        for category, patterns in CATEGORY_CUES.items()
    }


def severity_cue_counts(text: str) -> dict[str, int]:
    """How many distinct High and Low urgency cues the text matches."""
    folded = fold_text(text)
    return {
        level: sum(1 for pattern in patterns if _matches(pattern, folded))
        for level, patterns in SEVERITY_CUES.items()
    }


def urgency_overrides(text: str) -> list[str]:
    """The names of the overrides that the text matches (empty: the model decides)."""
    folded = fold_text(text)
    return [override.name for override in URGENCY_OVERRIDES if _matches(override.pattern, folded)]


# A cue's regex runs only when the text holds one of the words its alternatives must begin with
# ("charg", "abbuch", ...): a substring test is ~50 times cheaper than a search, and most cues
# match few tickets (the cues were a fifth of a long ticket's time). None: no such words.
_LEADING_LITERAL = re.compile(r"(?:\\b)?([^\\()\[\]{}|.?*+^$]+)")


def _matches(pattern: re.Pattern[str], folded: str) -> bool:
    stems = _STEMS[pattern]
    if stems is not None and not any(stem in folded for stem in stems):
        return False
    return pattern.search(folded) is not None


def _stems(source: str) -> tuple[str, ...] | None:
    """The literal text each top-level alternative of `source` starts with (after a `\\b`), or
    None if one of them starts with anything else."""
    stems: list[str] = []
    for branch in _branches(source):
        if _is_one_group(branch):
            inner = _stems(branch[3:-1])  # the whole branch is one group: look inside it
            if inner is None:
                return None
            stems += inner
            continue
        found = _LEADING_LITERAL.match(branch)
        if found is None:
            return None
        stem = found.group(1)
        if branch[found.end() : found.end() + 1] in ("?", "*", "{"):
            stem = stem[:-1]  # a quantifier makes the last character optional
        if not stem:
            return None
        stems.append(stem)
    return tuple(stems)


def _branches(source: str) -> list[str]:
    """`source` split at its top-level `|`."""
    cuts = [index for index, char, depth in _structure(source) if char == "|" and depth == 0]
    return [
        source[start + 1 : end]
        for start, end in zip([-1, *cuts], [*cuts, len(source)], strict=True)
    ]


def _is_one_group(branch: str) -> bool:
    """Whether `branch` is a single `(?:...)` group from its first character to its last."""
    if not branch.startswith("(?:"):
        return False
    closed = (i for i, char, depth in _structure(branch) if char == ")" and depth == 0)
    return next(closed, -1) == len(branch) - 1


def _structure(source: str) -> Iterator[tuple[int, str, int]]:
    """Each character of a regex source outside escapes and character classes, with the depth
    of parentheses after it."""
    depth, in_class, index = 0, False, 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        else:
            depth += (char == "(") - (char == ")")
            yield index, char, depth
        index += 1


_STEMS = {
    pattern: _stems(pattern.pattern)
    for pattern in (
        *(p for patterns in CATEGORY_CUES.values() for p in patterns),
        *(p for patterns in SEVERITY_CUES.values() for p in patterns),
        *(override.pattern for override in URGENCY_OVERRIDES),
    )
}
