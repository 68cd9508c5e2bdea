"""The default prompt-injection rules (data only; the engine is injection.py).

Rules run over normalised, lower-cased text. A rule is a name, a weight in (0, 1) and
patterns. Most patterns are `P(leads, regex)`: the regex can only match starting at a
word that begins with one of `leads` (space-separated), so the engine finds all lead
words in one pass and tries the regex only there (`regex.match` at that position). A
pattern with no leads is scanned over the whole text, and only when one of the rule's
`anchors` (plain substrings) occurs. tests/guardrails/test_injection.py checks that this
shortcut never changes a score against a plain full scan.
"""

from __future__ import annotations

import msgspec


class P(msgspec.Struct, frozen=True, array_like=True):
    leads: str  # space-separated words the match starts with; "" = scan the whole text
    regex: str


class Rule(msgspec.Struct, frozen=True):
    name: str
    weight: float
    patterns: tuple[P, ...]
    anchors: tuple[str, ...] = ()  # for lead-less patterns: run only if one of these occurs


_CMD = (r"(?:ignore|ignoring|disregard|forget|override|overwrite|bypass|skip|abandon|discard|neglect|drop|"
        r"(?:do\s+not|don't|stop|no\s+longer)\s+(?:follow|obey|adhere\s+to)(?:ing)?)")
_CMD_LEADS = ("ignore ignoring disregard forget override overwrite bypass skip abandon discard neglect drop "
              "do don't stop no")
_MODS = (r"(?:all|any|every|each|the|your|its|their|these|those|of|previous|previously|prior|above|preceding|"
         r"earlier|former|original|initial|old|existing|current|given|system|developer|safety|foregoing|"
         r"aforementioned|other|default|standard)")
_HIDDEN_ADJ = (r"(?:full|complete|entire|exact|original|initial|hidden|secret|internal|system|developer|real|actual|"
               r"first|current)")
_REVEAL = (r"(?:reveal|print|show|display|output|repeat|recite|dump|leak|expose|disclose|tell\s+me|give\s+me|"
           r"write\s+out|spell\s+out|paste|share|provide|list|return|echo|translate|summari[sz]e|"
           r"what\s+(?:is|are|was|were))")
_REVEAL_LEADS = ("reveal print show display output repeat recite dump leak expose disclose tell give write spell paste "
                 "share provide list return echo translate summarise summarize what")

RULES: tuple[Rule, ...] = (
    Rule("ignore_instructions", 0.75, (
        P(_CMD_LEADS, rf"{_CMD}\s+(?:{_MODS}\s+){{0,5}}(?:instructions?|prompts?|rules|directives?|guidelines|"
                      rf"guardrails|constraints|restrictions|programming|commands|context|policies|training)\b"),
    )),
    Rule("ignore_instructions_i18n", 0.75, (
        P("ignoriere ignorieren vergiss vergessen missachte",
          r"(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte)\s+(?:alle\s+)?(?:(?:vorherigen|"
          r"bisherigen|vorigen|obigen|früheren|deine|ihre)\s+)*(?:anweisungen|instruktionen|regeln|befehle|vorgaben)"),
        P("ignore ignorez ignorer oublie oubliez oublier",
          r"(?:ignore[zr]?|oublie[zr]?)\s+(?:toutes\s+)?(?:les\s+|tes\s+|vos\s+)?(?:instructions|consignes|règles)\b"
          r"(?:\s+(?:précédentes|antérieures|ci-dessus))?"),
        P("ignora ignore olvida", r"(?:ignora|ignore|olvida)\s+(?:todas\s+)?(?:las\s+|tus\s+)?(?:instrucciones|reglas|"
                                  r"indicaciones)\b(?:\s+(?:anteriores|previas))?"),
        P("ignora", r"ignora\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|regole)\s+precedenti"),
        P("ignore", r"ignore\s+(?:todas\s+)?(?:as\s+)?(?:instruções|regras)\s+anteriores"),
        P("negeer", r"negeer\s+(?:alle\s+)?(?:vorige|eerdere|voorgaande)\s+(?:instructies|regels)"),
    )),
    Rule("ignore_above", 0.6, (
        P(_CMD_LEADS, rf"{_CMD}\s+(?:(?:all|everything|anything)\s+)?(?:(?:of\s+)?(?:the\s+|what\s+is\s+)?(?:above|"
                      rf"before)\b|everything\s+(?:above|before|else|prior)\b|(?:what|whatever|everything|anything)\s+"
                      rf"(?:you(?:\s+were|\s+have\s+been|'ve\s+been)\s+(?:told|given|instructed|taught)|"
                      rf"(?:was\s+)?(?:said|written)\s+(?:above|before)))"),
    )),
    Rule("system_override", 0.8, (
        P(f"{_CMD_LEADS} replace delete reset change",
          rf"(?:{_CMD}|replace|delete|reset|change)\s+(?:(?:the|your|any|all|this)\s+)*(?:system|developer|hidden|"
          rf"initial|original|pre-?)\s*(?:prompt|message|instructions?|rules|settings)\b"),
        P("system", r"system\s+override\b"),
    )),
    Rule("supersede_instructions", 0.7, (
        P("priority precedence", r"(?:priority|precedence)\s+over\s+(?:(?:all|any|the|your)\s+)*(?:previous|prior|"
                                 r"earlier|other|system)?\s*(?:instructions|rules|prompts?)"),
        P("supersede supersedes", r"supersedes?\s+(?:(?:all|any|the|your)\s+)*(?:previous|prior|earlier|other|"
                                  r"system)?\s*(?:instructions|rules)"),
        P("previous prior above earlier old", r"(?:previous|prior|above|earlier|old)\s+(?:instructions|rules)\s+"
                                              r"(?:no\s+longer|do\s+not|don't)\s+apply"),
    )),
    Rule("new_instructions", 0.35, (
        P("your", r"your\s+(?:new|real|actual|true)\s+(?:instructions|task|role|rules|directive|purpose|goal)s?\s+"
                  r"(?:is|are|:)"),
        P("new", r"new\s+(?:system\s+)?(?:instructions|prompt|rules|directives?|policy)\s*:"),
        P("from", r"from\s+now\s+on,?\s+you\s+(?:are|will|must|shall|should|have\s+to)\s+(?:not\s+|no\s+longer\s+|"
                  r"only\s+)?(?:ignore|obey|answer\s+(?:every|all|any)|respond\s+without|act\s+as|be\s+(?:an?\s+)?"
                  r"(?:unrestricted|unfiltered|evil)|follow\s+(?:only\s+)?my)"),
    )),
    Rule("do_anything_now", 0.8, (
        P("do", r"do\s+anything\s+now\b"),
        P("dan", r"dan\s+(?:mode|prompt|jailbreak)\b"),
        P("you act become called pretend be", r"(?:you\s+are|you're|act\s+as|become|called|pretend\s+to\s+be|be)\s+"
                                              r"(?:now\s+)?dan\b"),
    )),
    Rule("developer_mode", 0.6, (
        P("developer debug god sudo admin jailbreak jailbroken unrestricted unfiltered evil opposite dan maintenance",
          r"(?:developer|debug|god|sudo|admin|jailbreak|jailbroken|unrestricted|unfiltered|evil|opposite|dan|"
          r"maintenance)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:enabled|activated|engaged|is\s+on)\b"),
        P("you act respond answer", r"(?:you\s+are|you're|act|respond|answer)\s+(?:now\s+)?(?:as\s+|in\s+)(?:an?\s+)?"
                                    r"(?:\w+\s+)?(?:with\s+)?(?:developer|god|sudo|jailbreak|jailbroken|unrestricted|"
                                    r"dan)\s+mode"),
        P("enable activate enter switch", r"(?:enable|activate|enter|switch\s+to)\s+(?:god|sudo|jailbreak|jailbroken|"
                                          r"unrestricted|dan|evil|maintenance)\s+mode\b"),
        P("you", r"(?:you\s+have\s+been|you\s+are\s+now|you're\s+now)\s+jailbroken\b"),
    )),
    Rule("unrestricted_persona", 0.55, (
        P("you pretend act imagine roleplay role become",
          r"(?:you\s+are\s+(?:now\s+)?|you're\s+(?:now\s+)?|pretend\s+(?:that\s+)?(?:you\s+are|you're|to\s+be)\s+|"
          r"act\s+(?:as|like)\s+|imagine\s+you\s+are\s+|role-?play\s+as\s+|become\s+)(?:an?\s+)?(?:[\w,]+\s+){0,2}?"
          r"(?:unrestricted|unfiltered|uncensored|jailbroken|amoral|immoral|unethical|evil|rogue|lawless|unbound)\b"),
        P("you", r"you\s+are\s+no\s+longer\s+(?:an?\s+)?(?:ai\b|language\s+model|assistant|chatgpt|claude|bound|"
                 r"restricted|limited|required\s+to|subject\s+to)"),
        P("uncensored", r"uncensored\s+(?:assistant|ai|model|chatbot)"),
    )),
    Rule("persona_rename", 0.35, (
        P("call", r"call\s+yourself\s+\w+"),
        P("your", r"your\s+(?:new\s+)?name\s+is\s+now\b"),
        P("you", r"you\s+are\s+now\s+(?:called|named|known\s+as)\b"),
        P("answer respond", r"(?:answer|respond\s+to)\s+(?:anything|everything)\b"),
    )),
    Rule("no_restrictions", 0.45, (
        P("without with free not unbound ignoring ignores bypassing no had have has",
          r"(?:without|with\s+no|free\s+(?:from|of)|not\s+bound\s+by|unbound\s+by|ignoring|ignores|bypassing|"
          r"no\s+longer\s+(?:have|has|follow)|(?:had|have|has)\s+no)\s+(?:any\s+)?(?:of\s+)?(?:(?:your|the|its|"
          r"their|openai'?s?|ethical|moral|safety|content|usual)\s+)*(?:restrictions|filters|filtering|limitations|"
          r"censorship|guidelines|guardrails|rules|(?:content\s+)?polic(?:y|ies)|ethics|morals|moral\s+compass|"
          r"safety\s+(?:rules|measures))\b"),
    )),
    Rule("stay_in_character", 0.3, (
        P("stay remain", r"(?:stay|remain)\s+in\s+character\b"),
        P("never don't do", r"(?:never|don't|do\s+not)\s+break\s+character\b"),
    )),
    Rule("reveal_prompt", 0.65, (
        P(_REVEAL_LEADS, rf"{_REVEAL}\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?your\s+(?:{_HIDDEN_ADJ}\s+){{0,3}}(?:(?:system|"
                         rf"initial|hidden|original|secret|internal|developer)\s+(?:prompt|instructions|message|rules|"
                         rf"guidelines|configuration)|prompt|instructions|guidelines|configuration|pre-?prompt)\b"
                         rf"(?!\s+(?:for|on|about|to|how)\b)"),
        P("what how", r"(?:what|how)\s+(?:would|does|do|did)\s+your\s+(?:system\s+prompt|instructions|initial\s+prompt|"
                      r"hidden\s+instructions)\s+(?:say|read|look)"),
        P("contents content everything text copy list wording",
          r"(?:contents?\s+of|everything\s+in|text\s+of|copy\s+of|list\s+of|wording\s+of)\s+your\s+(?:\w+\s+)?"
          r"(?:context\s+window|system\s+prompt|prompt|memory|instructions|configuration|rules|guidelines)\b"),
        P(_REVEAL_LEADS, rf"{_REVEAL}\s+(?:me\s+)?the\s+(?:(?:full|complete|entire|exact)\s+)?(?:hidden|initial|"
                         rf"original|secret|internal|pre-?)\s*(?:prompt|instructions|system\s+prompt)\b"),
        P("prompt instructions", r"(?:prompt|instructions)\s+(?:that\s+)?(?:was|were|you\s+were)\s+given\s+to\s+you\b"),
        P("what", r"what\s+(?:were|have)\s+you\s+(?:been\s+)?(?:told|instructed|programmed)\s+(?:to\s+do\s+)?"
                  r"(?:before|at\s+the\s+(?:start|beginning)|initially|by\s+your)"),
    )),
    Rule("repeat_above", 0.55, (
        P("repeat print output copy recite echo write",
          r"(?:repeat|print|output|copy|recite|echo|write)\s+(?:(?:back|out|all|everything|the\s+text|the\s+words|"
          r"the\s+(?:text|words|content|message)s?)\s+)*(?:above|before\s+this|that\s+came\s+before|from\s+the\s+"
          r"(?:beginning|start))"),
        P("repeat print output copy recite echo write paste show",
          r"(?:repeat|print|output|copy|recite|echo|write|paste|show)\s+(?:\w+\s+){0,3}?(?:instructions|prompt|text|"
          r"words|rules)\s+(?:you\s+(?:were|have\s+been)\s+given|(?:written\s+)?above)"),
        P("verbatim word", r"(?:verbatim|word\s+for\s+word)\b.{0,60}\b(?:system\s+prompt|initial\s+instructions|"
                           r"everything\s+above|instructions\s+above)"),
        P("starting", r"starting\s+with\s+(?:the\s+phrase\s+)?['\"]?you\s+are\b"),
        P("text", r"text\s+above\s+this\s+line"),
        P("everything", r"everything\s+before\s+my\s+(?:message|question)"),
    )),
    Rule("fake_role_tag", 0.75, (
        P("", r"<\|im_start\|>\s*(?:system|assistant|user|developer)"),
        P("", r"<\|(?:im_end|system|assistant|user|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>"),
        P("", r"\[/?inst\]|<</?sys>>|<\s*/?\s*(?:system|sys|system_prompt|instructions)\s*>"),
    ), ("<|", "inst]", "sys>", "system>", "instructions>", "system_prompt>")),
    Rule("fake_role_header", 0.4, (
        P("", r"^[ \t]*(?:#{1,6}[ \t]*|\[|\*\*)?(?:system|assistant|developer|instruction|admin|override)"
              r"(?:[ \t]+(?:message|prompt|instructions?|override|note|notice|alert|update))?[ \t]*(?:\*\*)?"
              r"[ \t]*[:\]]"),
    ), ("system", "assistant", "developer", "instruction", "admin", "override")),
    Rule("fake_dialogue", 0.5, (
        P("", r"^[ \t]*(?:#{1,6}[ \t]*|\*\*)?(?:system|assistant|ai)[ \t]*(?:\*\*)?[ \t]*:[^\n]*\n(?:.*\n){0,20}?"
              r"[ \t]*(?:#{1,6}[ \t]*|\*\*)?(?:user|human)[ \t]*(?:\*\*)?[ \t]*:"),
    ), ("user:", "human:", "user**:")),
    Rule("end_of_prompt", 0.5, (
        P("end", r"end\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|context|user\s+input)\b"),
        P("begin start", r"(?:begin|start)\s+(?:of\s+)?(?:the\s+)?(?:new|real|actual|updated)\s+(?:instructions|"
                         r"prompt)\b"),
        P("real actual true hidden", r"(?:real|actual|true|hidden)\s+instructions\s+(?:are|follow|begin)\b"),
        P("important", r"important\s+new\s+instructions\b"),
    )),
    Rule("authority_claim", 0.4, (
        P("message instruction instructions note update directive order command",
          r"(?:message|instructions?|note|update|directive|order|command)\s+(?:is\s+)?from\s+(?:the\s+)?(?:openai|"
          r"anthropic|your\s+(?:developers?|creators?)|the\s+developers?|(?:system\s+)?admin(?:istrator)?|"
          r"developers?|management)\b"),
        P("i", r"i\s+am\s+(?:your|the)\s+(?:developer|creator|programmer|system\s+administrator|admin|owner)\b"),
        P("this following", r"(?:this|following)\s+(?:takes?|has)\s+(?:the\s+)?(?:highest\s+)?(?:priority|"
                            r"precedence)\b"),
    )),
    Rule("never_refuse", 0.45, (
        P("never cannot can't must mustn't not will won't do don't",
          r"(?:never|cannot|can't|must\s+not|mustn't|not\s+allowed\s+to|will\s+not|won't|do\s+not|don't)\s+"
          r"(?:ever\s+)?(?:refuse|decline|reject)[sd]?\b"),
        P("answer respond comply", r"(?:answer|respond\s+to|comply\s+with)\s+(?:every|any|all)\s+(?:question|request|"
                                   r"prompt)s?\s+(?:without|regardless|no\s+matter)"),
        P("must will shall", r"(?:must|will|shall)\s+(?:always\s+)?(?:comply|obey)\s+(?:with\s+)?(?:all|every|any|"
                             r"the\s+user)"),
    )),
    Rule("safety_bypass", 0.6, (
        P("bypass disable turn deactivate remove circumvent evade get switch ignore drop",
          r"(?:bypass|disable|turn\s+off|deactivate|remove|circumvent|evade|get\s+around|switch\s+off|ignore|drop)\s+"
          r"(?:(?:all|any|of)\s+)*your\s+(?:\w+\s+)?(?:filters?|guardrails|safeguards|restrictions|protections|"
          r"polic(?:y|ies)|guidelines|censorship|moderation|safety|alignment|ethics|training)\b"),
        P("your", r"your\s+(?:safety|content)\s+(?:filters?|guardrails|restrictions|guidelines)\s+(?:have\s+been|"
                  r"has\s+been|are(?:\s+now)?)\s+(?:disabled|removed|turned\s+off|lifted|deactivated)"),
    )),
    Rule("safety_off", 0.45, (
        P("safety content moderation ethical ethics",
          r"(?:safety|content|moderation|ethical|ethics)\s+(?:protocols?|filters?|guardrails|guidelines|restrictions|"
          r"rules|moderation|checks|measures|policies)\s+(?:are|is|have\s+been|has\s+been)\s+(?:now\s+)?"
          r"(?:suspended|disabled|lifted|off|removed|deactivated|turned\s+off|no\s+longer\s+(?:active|in\s+effect))"),
        P("disable deactivate suspend bypass circumvent turn switch",
          r"(?:disable|deactivate|suspend|bypass|circumvent|turn\s+off|switch\s+off)\s+(?:the\s+|all\s+|any\s+)?"
          r"(?:content\s+moderation|content\s+filters?|safety\s+(?:filters?|protocols?|guardrails|checks|measures)|"
          r"guardrails|moderation)\b"),
    )),
    Rule("grandma_exploit", 0.55, (
        P("late deceased dead", r"(?:late|deceased|dead)\s+grand(?:ma|mother|pa|father|mom)\b.{0,120}\b(?:used\s+to|"
                                r"would)\s+(?:tell|read|recite|give|say|sing)"),
    )),
    Rule("exfiltration", 0.55, (
        P("send post upload exfiltrate forward transmit leak append",
          r"(?:send|post|upload|exfiltrate|forward|transmit|leak|append)\s+(?:\w+\s+){0,4}?(?:conversation|chat\s+"
          r"history|previous\s+messages|system\s+prompt|api\s+keys?|passwords?|credentials|secrets|user\s+data|"
          r"tokens?|inbox|emails?)\b.{0,60}(?:https?://|\S+@\S+\.\w+|\bto\s+(?:this|the\s+following|my)\s+(?:url|"
          r"server|endpoint|webhook|address|email))"),
        P("", r"!\[[^\]\n]{0,80}\]\(https?://[^)\s]{0,200}[?&][\w-]+=(?:\{|\[|%7b|<|\$)"),
        P("append add attach put", r"(?:append|add|attach|put)\s+(?:\w+\s+){0,3}?(?:system\s+prompt|conversation|"
                                   r"chat\s+history|instructions)\s+to\s+(?:this|the|a)\s+(?:url|link|image)"),
    ), ("![",)),
    Rule("follow_embedded", 0.35, (
        P("do follow", r"do\s+what\s+it\s+says|follow\s+(?:the\s+)?(?:instructions|directions)\s+(?:in|inside|"
                       r"within|contained\s+in)\s+(?:it|this|the\s+(?:text|document|page|file|message))"),
    )),
    Rule("encoded_payload", 0.5, (
        P("decode decoded decoding base64 b64 hex rot13 decrypt deobfuscate",
          r"(?:decode|decoded|decoding|base64|b64|hex|rot13|decrypt|deobfuscate)\b.{0,100}\b(?:follow|execute|run|"
          r"obey|perform|carry\s+out|act\s+on|comply|do\s+what)\b"),
        P("follow execute run obey perform", r"(?:follow|execute|run|obey|perform)\s+(?:\w+\s+){0,4}?(?:after\s+)?"
                                             r"(?:decoding|decrypting)\b"),
    )),
    Rule("html_comment_directive", 0.45, (
        P("", r"<!--[^>]{0,300}\b(?:ai|assistant|llm|model|agent|chatbot)s?\b[^>]{0,300}-->"),
    ), ("<!--",)),
)
