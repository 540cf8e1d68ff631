"""The line patterns that mark quoted history and signatures in replies, in the languages residents write.

Kept apart from `reply.py` so the rules can be read (and extended for a new language) without the algorithm.
Each pattern matches one line, already stripped of surrounding whitespace.
"""

from __future__ import annotations

import re

# "On <date>, <person> wrote:" and its translations: the words that END the quote header. The strict group
# must close the line (only a colon or dashes may follow); the loose group may be followed by the person.
_WROTE_STRICT = (
    r"wrote|sent|escribió|escribio|escreveu|a\s+écrit|a\s+ecrit|ha\s+scritto|geschreven|skrev|đã\s+viết"
    r"|napisał|napisał\(a\)|написал|написала|написал\(а\)|пишет|kirjoitti|yazdı"
)
_WROTE_LOOSE = r"schrieb|schreef|skrev|napisał|escreveu|escribió"
WROTE_TERMINATOR = re.compile(
    rf"(?:\b(?:{_WROTE_STRICT})\s*(?:[:：]|-{{2,}})|\b(?:{_WROTE_LOOSE})\b[^\n]{{0,160}}[:：]|(?:写道|寫道|のメッセージ)\s*[:：]?)"
    r"\s*-*\s*$",
    re.IGNORECASE,
)
# Words that OPEN a quote header, so a header that wraps over two or three lines can be found from its end.
WROTE_OPENER = re.compile(
    r"^[-\s]*(?:On|El|Le|Am|Em|Il|Op|Den|På|W\s+dniu|Dnia|Dne|Vào|Sent\s+from|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
    r"|\d{4}年)\b",
    re.IGNORECASE,
)
# Text on the same line before an "On <date> ... wrote:" header is the reply itself (talon calls it a shared line).
SHARED_LINE = re.compile(r"^(?P<reply>.*?\S)[\s-]*(?<=[\s-])(?=(?:On|El|Le|Am|Em)\s[^\n]{0,40}\d)")
DATEISH = re.compile(
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}|\d{4}年|\b(?:19|20)\d{2}\b"
    r"|\b(?:mon|tue|wed|thu|fri|sat|sun|lun|mar|mié|jeu|ven|sam|dim|mo|di|mi|do|fr|sa|so|seg|ter|qua|qui|sex|sáb)\b",
    re.IGNORECASE,
)

# "-----Original Message-----" and the same separator as other clients and languages write it.
SEPARATOR = re.compile(
    r"^[-_=*\s]*(?:original message|reply message|ursprüngliche nachricht|antwort nachricht|originalnachricht"
    r"|oprindelig meddelelse|mensaje original|message d'origine|message original|mensagem original"
    r"|messaggio originale|oorspronkelijk bericht|ursprungligt meddelande|opprinnelig melding"
    r"|wiadomość oryginalna|исходное сообщение|原始邮件|原始郵件|元のメッセージ)[-_=*\s]*:?$",
    re.IGNORECASE,
)
# A forward keeps what it forwards: for a 311 inbox the forwarded text IS the report.
FORWARD_MARKER = re.compile(
    r"^[-_=*\s]*(?:forwarded message|begin forwarded message|mensaje reenviado|inicio del mensaje reenviado"
    r"|message transféré|début du message (?:réexpédié|transféré)|weitergeleitete nachricht"
    r"|anfang der weitergeleiteten nachricht|mensagem encaminhada|início da mensagem (?:re)?encaminhada"
    r"|messaggio inoltrato|doorgestuurd bericht|пересылаемое сообщение|转发的邮件|轉寄的郵件)[-_=*\s]*:?$",
    re.IGNORECASE,
)
OUTLOOK_RULE = re.compile(r"^_{10,}$|^-{20,}$")

# Outlook-style header blocks ("From: ... Sent: ... To: ... Subject: ..."), any language, optionally *bold*.
_HEADER_KEYS = (
    "from|sent|to|subject|date|cc|bcc|reply-to|organization|de|enviado|enviada|enviado el|enviada em|para|asunto"
    "|fecha|assunto|data|envoyé|envoyé le|à|a|objet|von|gesendet|an|betreff|datum|fra|sendt|til|emne|dato|från"
    "|skickat|till|ämne|kopia|van|verzonden|aan|onderwerp|da|inviato|oggetto|od|wysłano|do|temat|dw"
    "|发件人|发送时间|收件人|主题|抄送|日期|时间|寄件者|寄件人|傳送時間|收件者|主旨|副本"
    "|от|отправлено|кому|тема|дата|копия|差出人|送信日時|宛先|件名"
)
HEADER_LINE = re.compile(rf"^[*>\s]*\**(?:{_HEADER_KEYS})\**\s*[:：]", re.IGNORECASE)
FROM_LINE = re.compile(
    r"^[*\s]*\**(?:from|de|von|van|fra|från|od|da|发件人|寄件者|寄件人|от|差出人)\**\s*[:：].*@", re.IGNORECASE
)

# Signature starts: the RFC 3676 delimiter, and the one-line notes that phones and apps append.
SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
MOBILE_SIGNATURE = re.compile(
    r"^(?:sent from my|sent from|sent with|sent via|sent using|get outlook for|enviado desde mi|enviado desde"
    r"|enviado do meu|enviado de meu|enviado a partir d[oe]|envoyé de mon|envoyé depuis|envoyé avec"
    r"|von meinem .{1,40} gesendet|gesendet von meinem|gesendet von|gesendet mit|inviato da|verzonden vanaf"
    r"|verstuurd vanaf|skickat från|sendt fra|wysłano z|発信元|从我的|发自我的|來自我的|отправлено с)"
    r"[\w .<>:/()@&'+=?-]{0,70}$|^(?:发自我的|从我的|來自我的).{0,30}$",
    re.IGNORECASE,
)
# A mailing list's footer under a rule of underscores ("riak-users mailing list", "Unsubscribe: ...").
LIST_FOOTER = re.compile(r"mailing list|listinfo|unsubscribe|list-info", re.IGNORECASE)
DECORATION = re.compile(r"^[-_=*~#.\s]*$")
# A wrapped link inside quoted text leaves a line without the quote marker; it is still quoted text.
LINK_CONTINUATION = re.compile(r"^\(?<?https?://\S+>?\)?\s*>?$|^\S{1,60}$")
