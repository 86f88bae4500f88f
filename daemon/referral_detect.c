#include "referral_detect.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "strbuf.h"
#include "strset.h"
#include "xmalloc.h"

/* At most this many customers are looked at per address or name. */
#define IDS_MAX		8
/* Bytes of text before / after a phrase searched for the referrer. */
#define WINDOW_BEFORE	120
#define WINDOW_AFTER	100
/* Name candidates tried per phrase hit (each is a lookup). */
#define NAMES_MAX	40
/* Bytes before a pronoun searched for the name it stands for. */
#define PRONOUN_WINDOW	160

struct referral_detector {
	const struct linker	*lk;
	bool			 company_by_domain;
	struct strset		 own_domains;
	struct strset		 free_mail;
};

/*
 * The phrase table, one entry per wording, named for the evidence.
 * INTRO: the writer introduces two people.  REFERRED: the writer was sent
 * by someone, named before or after the words.  VETO: the new address is
 * a helper of the writer, not a new contact (only weak rules heed it).
 * SLOT_AROUND entries are loose stems of the same meaning, last in the
 * table: a name found only through them makes a weak candidate.
 * Matched on the ASCII-lowercased text, so entries are lowercase.
 */
enum phrase_kind { PH_INTRO, PH_REFERRED, PH_VETO };
enum phrase_slot { SLOT_NONE, SLOT_BEFORE, SLOT_AFTER, SLOT_AROUND };

struct phrase {
	const char		*name;
	const char		*text;
	enum phrase_kind	 kind;
	enum phrase_slot	 slot;
};

#define APOS "\xe2\x80\x99"	/* U+2019, the typographic apostrophe */

static const struct phrase phrases[] = {
	/* English introductions. */
	{ "en:introduce",	"introduc",		PH_INTRO, SLOT_NONE },
	{ "en:introduce",	"intro:",		PH_INTRO, SLOT_NONE },
	{ "en:introduce",	"intro ",		PH_INTRO, SLOT_NONE },
	{ "en:meet",		"you to meet",		PH_INTRO, SLOT_NONE },
	{ "en:meet",		"you should meet",	PH_INTRO, SLOT_NONE },
	{ "en:meet",		"you two should",	PH_INTRO, SLOT_NONE },
	{ "en:meet",		"you two ",		PH_INTRO, SLOT_NONE },
	{ "en:connect",		"connect you",		PH_INTRO, SLOT_NONE },
	{ "en:connect",		"connecting you",	PH_INTRO, SLOT_NONE },
	{ "en:connect",		"in touch with",	PH_INTRO, SLOT_NONE },
	{ "en:connect",		"put you in touch",	PH_INTRO, SLOT_NONE },
	{ "en:connect",		"putting you in touch",	PH_INTRO, SLOT_NONE },
	{ "en:connect",		"looping in",		PH_INTRO, SLOT_NONE },
	{ "en:connect",		"loop in",		PH_INTRO, SLOT_NONE },
	{ "en:connect",		"you could help",	PH_INTRO, SLOT_NONE },
	{ "en:connect",		"you can help",		PH_INTRO, SLOT_NONE },
	{ "en:connect",		"take it from here",	PH_INTRO, SLOT_NONE },
	{ "en:connect",		"leave you two",	PH_INTRO, SLOT_NONE },
	/* English referrals: the referrer before the words. */
	{ "en:recommended-you",	"recommended you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommended-you",	"recommended your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommended-you",	"recommends you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommended-you",	"highly recommend",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommended-you",	"recommended that i",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommended-you",	"recommended i ",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommended-you",	"recommended getting",	PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested i ",		PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested that i",	PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested we ",	PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested reaching",	PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested contacting",	PH_REFERRED, SLOT_BEFORE },
	{ "en:suggested",	"suggested writing",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"told me about you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"told me to",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"told me you",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"tells me you",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"says you",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"said you",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"mentioned you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"speaks highly of you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"spoke highly of you",	PH_REFERRED, SLOT_BEFORE },
	/* Any adverb between: "speaks very highly of you". */
	{ "en:told-me",		"highly of you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"highly of your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"full of praise",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"praised you",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"praises you",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"your praises",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"told me i should",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"said i should",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"says i should",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"said to contact",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"said to get in touch",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"said to reach out",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"stop talking about",	PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"raves about",		PH_REFERRED, SLOT_BEFORE },
	{ "en:told-me",		"raved about",		PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"gave me your",		PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"passed me your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"passed along your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"passed on your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"shared your",		PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"forwarded your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"forwarded me your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"sent me your",		PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"handed me your",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"put me in touch",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"put me onto you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"put me on to you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"pointed me",		PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"sent me your way",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"sent me to you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:gave-me",		"sent me over",		PH_REFERRED, SLOT_BEFORE },
	{ "en:referred-me",	"referred me",		PH_REFERRED, SLOT_BEFORE },
	{ "en:referred-me",	"vouched for you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:referred-me",	"referred us",		PH_REFERRED, SLOT_BEFORE },
	/* "X introduced me to you": the writer was the one introduced. */
	{ "en:referred-me",	"introduced me to you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:referred-me",	"introduced me to your", PH_REFERRED, SLOT_BEFORE },
	{ "en:referred-me",	"introduced us to you",	PH_REFERRED, SLOT_BEFORE },
	{ "en:referred-me",	"introduced us to your", PH_REFERRED, SLOT_BEFORE },
	{ "en:recommendation",	"'s recommendation",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommendation",	APOS "s recommendation", PH_REFERRED, SLOT_BEFORE },
	{ "en:recommendation",	"'s suggestion",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommendation",	APOS "s suggestion",	PH_REFERRED, SLOT_BEFORE },
	{ "en:recommendation",	"'s referral",		PH_REFERRED, SLOT_BEFORE },
	{ "en:recommendation",	APOS "s referral",	PH_REFERRED, SLOT_BEFORE },
	/* English referrals: the referrer after the words. */
	{ "en:referred-by",	"referred by",		PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"referred to you by",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"recommended by",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"recommended to me by",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"recommended to us by",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"introduced by",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"sent by",		PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"referral from",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"recommendation from",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"recommendation of",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"suggestion of",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"suggestion from",	PH_REFERRED, SLOT_AFTER },
	{ "en:referred-by",	"tip from",		PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your name from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your contact from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your details from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your email from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your address from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your number from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"your card from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"about you from",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"of you from",		PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"about you through",	PH_REFERRED, SLOT_AFTER },
	{ "en:got-from",	"of you through",	PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"friend of",		PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"neighbour of",		PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"neighbor of",		PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"mutual acquaintance",	PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"mutual friend",	PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"mutual contact",	PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"mutual connection",	PH_REFERRED, SLOT_AFTER },
	{ "en:friend-of",	"common friend",	PH_REFERRED, SLOT_AFTER },
	/* Korean. */
	{ "ko:introduce",	"소개해 드",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개해드",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개합니다",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개 드",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개드",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개시켜",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개할게",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개하고 싶",		PH_INTRO, SLOT_NONE },
	{ "ko:introduce",	"소개하려",		PH_INTRO, SLOT_NONE },
	{ "ko:connect",		"연결해 드",		PH_INTRO, SLOT_NONE },
	{ "ko:connect",		"연결해드",		PH_INTRO, SLOT_NONE },
	{ "ko:connect",		"인사 나누",		PH_INTRO, SLOT_NONE },
	{ "ko:connect",		"인사나누",		PH_INTRO, SLOT_NONE },
	{ "ko:connect",		"연락 드리라고",		PH_INTRO, SLOT_NONE },
	{ "ko:referred",	"소개로",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개를 받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개 받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개해 주",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개해주",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개하셔서",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천으로",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천을 받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천 받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천해",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천하",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:recommended",	"추천을 해",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"통해 연락",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"통해 알게",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"통해서 알게",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"통해 소개",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"께 들었",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"께서 알려",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"한테 들었",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"에게 들었",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"께 연락처를",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락처를 받",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락해 보라고",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락해보라고",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락처를 주",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락처 주",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락처를 알려",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"연락처를 전달",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"번호를 주",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"메일 주소를 주",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"얘기를 듣",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"얘기 듣",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"이야기를 듣",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"말씀을 듣",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"말씀 듣",		PH_REFERRED, SLOT_BEFORE },
	/* Praise, as "full of praise": "얘기를 많이 해서", "칭찬". */
	{ "ko:heard",		"얘기를 많이",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"이야기를 많이",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"칭찬",			PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"덕분에 알게",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:heard",		"덕분에 연락",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개를 통해",		PH_REFERRED, SLOT_BEFORE },
	{ "ko:referred",	"소개 덕분",		PH_REFERRED, SLOT_BEFORE },
	/* Chinese (simplified and traditional). */
	{ "zh:introduce",	"介绍一下",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"介紹一下",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"介绍给",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"介紹給",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"给您介绍",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"给你介绍",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"向您介绍",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"向你介绍",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"为您介绍",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"认识一下",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"認識一下",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"互相认识",		PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"牵线",			PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"引荐",			PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"对接",			PH_INTRO, SLOT_NONE },
	{ "zh:introduce",	"联系一下",		PH_INTRO, SLOT_NONE },
	{ "zh:referred",	"介绍",			PH_REFERRED, SLOT_BEFORE },
	{ "zh:referred",	"介紹",			PH_REFERRED, SLOT_BEFORE },
	{ "zh:recommended",	"推荐",			PH_REFERRED, SLOT_BEFORE },
	{ "zh:recommended",	"推薦",			PH_REFERRED, SLOT_BEFORE },
	{ "zh:recommended",	"引荐",			PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"让我联系",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"讓我聯繫",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"叫我联系",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"让我找",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"叫我找",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"给了我您",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"给了我你",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"给我您的",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"那里得知",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"那里听说",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"那儿听说",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"说您",			PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"给了我你们",		PH_REFERRED, SLOT_BEFORE },
	/* "我是郭超的朋友": the writer is a friend of the referrer. */
	{ "zh:friend-of",	"的朋友",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:friend-of",	"的老朋友",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"那边听说",		PH_REFERRED, SLOT_BEFORE },
	{ "zh:heard",		"那边得知",		PH_REFERRED, SLOT_BEFORE },
	/* The referrer after the words: "多亏了刘丽", "通过马静". */
	{ "zh:thanks-to",	"多亏了",		PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"多亏",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"多虧",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"幸亏",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"幸虧",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"通过",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"透過",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"经由",			PH_REFERRED, SLOT_AFTER },
	{ "zh:thanks-to",	"經由",			PH_REFERRED, SLOT_AFTER },
	/* Loose stems: the referrer anywhere in the same clause. */
	{ "en:loose",		"recommend",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"refer",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"suggest",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"mention",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"told me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"tells me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"tell me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"said",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"says",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"passed",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"gave me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"give me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"put me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"sent me",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"pointed",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"thought you",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"advised",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"swears by",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"swear by",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"vouch",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"talk about",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"talking about",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"talks about",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"your details",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"your name",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"your number",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"your contact",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"your address",	PH_REFERRED, SLOT_AROUND },
	{ "en:loose",		"your email",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"소개",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"추천",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"권유",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"권해",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"알려",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"보라고",	PH_REFERRED, SLOT_AROUND },
	{ "ko:loose",		"말씀",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"跟我说",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"和我说",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"对我说",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"让我",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"叫我",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"建议",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"告诉",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"那里",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"那儿",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"提到",	PH_REFERRED, SLOT_AROUND },
	{ "zh:loose",		"提起",	PH_REFERRED, SLOT_AROUND },
	/* Helpers copied in: not new contacts. */
	{ "en:helper",		"assistant",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"colleague",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"coworker",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"co-worker",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"secretary",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"accountant",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"accounting",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"bookkeep",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"my team",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"my husband",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"my wife",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"my partner",		PH_VETO, SLOT_NONE },
	{ "en:helper",		"for your records",	PH_VETO, SLOT_NONE },
	{ "en:helper",		"invoice",		PH_VETO, SLOT_NONE },
	{ "ko:helper",		"비서",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"동료",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"직원",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"팀원",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"회계",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"경리",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"남편",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"아내",			PH_VETO, SLOT_NONE },
	{ "ko:helper",		"세금계산서",		PH_VETO, SLOT_NONE },
	{ "zh:helper",		"助理",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"同事",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"秘书",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"财务",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"会计",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"发票",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"爱人",			PH_VETO, SLOT_NONE },
	{ "zh:helper",		"太太",			PH_VETO, SLOT_NONE },
};

/* Local parts shared by many people: never evidence of the same person. */
static const char *const generic_locals[] = {
	"info", "sales", "contact", "office", "admin", "hello", "support",
	"team", "mail", "kontakt", "service", "enquiries", "inquiries",
};

/* Words before a referral phrase that turn it around ("did not
 * recommend"), checked in the last bytes before the phrase. */
static const char *const negations[] = {
	"not ", "n't ", "never ", "no one ", "nobody ", "不", "没", "沒",
};

struct referral_detector *
referral_detector_new(const struct config *cfg, const struct linker *lk)
{
	struct referral_detector *d = xcalloc(1, sizeof(*d));

	d->lk = lk;
	d->company_by_domain = cfg->link.company_by_domain;
	for (size_t i = 0; i < cfg->link.n_own_domains; i++)
		strset_add(&d->own_domains, cfg->link.own_domains[i]);
	for (size_t i = 0; i < cfg->link.n_free_mail; i++)
		strset_add(&d->free_mail, cfg->link.free_mail[i]);
	return d;
}

void
referral_detector_free(struct referral_detector *d)
{
	if (d == NULL)
		return;
	strset_free(&d->own_domains);
	strset_free(&d->free_mail);
	free(d);
}

/* ---- UTF-8 ---------------------------------------------------------- */

/* The code point at p (bytes before end), and its length in *len;
 * a stray byte decodes as itself with length 1. */
static unsigned
utf8_decode(const char *p, const char *end, size_t *len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t avail = (size_t)(end - p), n;
	unsigned c;

	if (s[0] < 0x80 || avail < 2) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else if (s[0] >= 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else {
		*len = 1;
		return s[0];
	}
	if (n > avail) {
		*len = 1;
		return s[0];
	}
	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (s[i] & 0x3f);
	*len = n;
	return c;
}

/* The start of the character before p (not before start). */
static const char *
utf8_prev(const char *start, const char *p)
{
	if (p <= start)
		return start;
	p--;
	while (p > start && ((unsigned char)*p & 0xc0) == 0x80)
		p--;
	return p;
}

/* Hangul syllables and CJK ideographs: names written without spaces. */
static bool
is_cjk(unsigned c)
{
	return (c >= 0xac00 && c <= 0xd7a3) || (c >= 0x4e00 && c <= 0x9fff) ||
	    (c >= 0x3400 && c <= 0x4dbf);
}

/* A cut at most max bytes long that does not split a character. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* ---- candidates --------------------------------------------------- */

static void
candidate_clear(struct referral_candidate *c)
{
	free(c->referred_addr);
	free(c->referred_name);
	free(c->evidence);
}

void
referral_candidates_free(struct referral_candidates *c)
{
	for (size_t i = 0; i < c->n; i++)
		candidate_clear(&c->v[i]);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

struct found {
	int64_t			 referrer;
	const char		*addr;
	const char		*name;
	const char		*rule;
	const char		*evidence;
	enum referral_match	 match;
	bool			 strong;
};

/*
 * One candidate per referred address among those added since first: a
 * strong finding replaces a weak one, else the earlier one stays.
 * Returns 1 if a candidate was added.
 */
static int
candidates_put(struct referral_candidates *out, size_t first,
    const struct found *f)
{
	struct referral_candidate *c = NULL;
	int added = 0;

	for (size_t i = first; i < out->n; i++)
		if (strcmp(out->v[i].referred_addr, f->addr) == 0) {
			if (out->v[i].strong || !f->strong)
				return 0;
			c = &out->v[i];
			candidate_clear(c);
		}
	if (c == NULL) {
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		c = &out->v[out->n++];
		added = 1;
	}
	c->referrer = f->referrer;
	c->referred_addr = xstrdup(f->addr);
	c->referred_name = xstrdup_or_null(f->name);
	c->rule = f->rule;
	c->evidence = xstrndup(f->evidence,
	    utf8_cut(f->evidence, strlen(f->evidence), REFERRAL_EVIDENCE_MAX));
	c->match = f->match;
	c->strong = f->strong;
	return added;
}

/* ---- who is who --------------------------------------------------- */

enum role { ROLE_SKIP, ROLE_OWN, ROLE_CUSTOMER, ROLE_KNOWN, ROLE_NEW };

/* An address's role; *id set for a customer.  norm receives the
 * normalized address. */
static enum role
role_of(const struct referral_detector *d, const struct referral_lookup *lu,
    const char *addr, char *norm, size_t normlen, int64_t *id)
{
	int64_t ids[IDS_MAX];
	size_t n;

	*id = 0;
	if (linker_normalize(d->lk, addr, norm, normlen) < 0)
		return ROLE_SKIP;
	if (linker_is_own(d->lk, norm) ||
	    strset_has(&d->own_domains, address_domain(norm)))
		return ROLE_OWN;
	n = lu->by_address(lu->ctx, norm, ids, IDS_MAX);
	if (n == 1) {
		*id = ids[0];
		return ROLE_CUSTOMER;
	}
	if (n > 1)
		return ROLE_KNOWN;	/* shared: the linker's review list */
	if (lu->has_history != NULL && lu->has_history(lu->ctx, norm))
		return ROLE_KNOWN;
	return ROLE_NEW;
}

/* Case-insensitive comparison ignoring spacing: "Anna  Schmidt" and
 * "anna schmidt" are the same name. */
static bool
same_name(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	for (;;) {
		while (*a == ' ' || *a == '"' || *a == '\'')
			a++;
		while (*b == ' ' || *b == '"' || *b == '\'')
			b++;
		if (*a == '\0' || *b == '\0')
			return *a == *b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++;
		b++;
	}
}

static bool
is_generic_local(const char *local, size_t len)
{
	for (size_t i = 0; i < sizeof(generic_locals) / sizeof(*generic_locals);
	    i++)
		if (strlen(generic_locals[i]) == len &&
		    strncmp(generic_locals[i], local, len) == 0)
			return true;
	return false;
}

/* Whether two participants are one person, or one company when the
 * company rule is on.  Addresses are normalized. */
static bool
same_party(const struct referral_detector *d, const char *a_addr,
    const char *a_name, const char *b_addr, const char *b_name)
{
	const char *da = strrchr(a_addr, '@'), *db = strrchr(b_addr, '@');
	size_t la, lb;

	if (same_name(a_name, b_name))
		return true;
	if (da == NULL || db == NULL)
		return false;
	la = (size_t)(da - a_addr);
	lb = (size_t)(db - b_addr);
	if (la == lb && la >= 3 && strncmp(a_addr, b_addr, la) == 0 &&
	    !is_generic_local(a_addr, la))
		return true;
	return d->company_by_domain && strcmp(da + 1, db + 1) == 0 &&
	    !strset_has(&d->free_mail, da + 1);
}

/* ---- the text ----------------------------------------------------- */

/* The text the phrases are looked for in: the subject and the first
 * text up to the quoted part, and its ASCII-lowercased twin (same
 * offsets). */
struct text {
	char	*s;
	char	*lower;
	size_t	 len;
	/* Where each phrase occurs in lower: the offsets of phrases[i] are
	 * hit_pos[hit_start[i] .. hit_start[i + 1]), ascending.  Found in
	 * one pass over the text, when first asked (NULL until then). */
	uint32_t *hit_start;
	uint32_t *hit_pos;
};

#define NPHRASES	(sizeof(phrases) / sizeof(*phrases))

/* The phrases by a hash of their first two bytes: pair_phrase[
 * pair_start[h] .. pair_start[h + 1]) hash to h.  Built once. */
#define PAIR_BUCKETS	1024

static uint16_t pair_start[PAIR_BUCKETS + 1];
static uint16_t pair_phrase[NPHRASES];
static uint16_t phrase_len[NPHRASES];	/* strlen(phrases[i].text) */
static pthread_once_t pair_once = PTHREAD_ONCE_INIT;

static unsigned
pair_hash(unsigned char a, unsigned char b)
{
	return ((unsigned)a * 31u + b) & (PAIR_BUCKETS - 1);
}

static void
pair_index_build(void)
{
	size_t n = 0;

	for (size_t i = 0; i < NPHRASES; i++)
		phrase_len[i] = (uint16_t)strlen(phrases[i].text);
	for (unsigned h = 0; h < PAIR_BUCKETS; h++) {
		pair_start[h] = (uint16_t)n;
		for (size_t i = 0; i < NPHRASES; i++) {
			const unsigned char *t =
			    (const unsigned char *)phrases[i].text;

			if (pair_hash(t[0], t[1]) == h)
				pair_phrase[n++] = (uint16_t)i;
		}
	}
	pair_start[PAIR_BUCKETS] = (uint16_t)n;
}

/*
 * Every occurrence of every phrase, as repeated strstr() calls from each
 * hit + 1 would find them (overlaps included), in one pass: a phrase is
 * compared only where the text has its first two bytes.  Scanning the
 * text once per phrase (some 300) was a tenth of ingest.
 */
static void
text_hits_build(struct text *t)
{
	const unsigned char *lo = (const unsigned char *)t->lower;
	uint32_t *ph = NULL, *at = NULL, *count;
	size_t n = 0, cap = 0;

	pthread_once(&pair_once, pair_index_build);
	for (size_t p = 0; p + 1 < t->len; p++) {
		unsigned h = pair_hash(lo[p], lo[p + 1]);

		for (size_t k = pair_start[h]; k < pair_start[h + 1]; k++) {
			const char *pt = phrases[pair_phrase[k]].text;
			size_t pl = phrase_len[pair_phrase[k]];

			/* Hangul syllables share their first two bytes by
			 * the dozen: the third tells most apart. */
			if ((unsigned char)pt[0] != lo[p] ||
			    (unsigned char)pt[1] != lo[p + 1] ||
			    pl > t->len - p ||
			    (pl > 2 && (unsigned char)pt[2] != lo[p + 2]) ||
			    (pl > 3 && memcmp(lo + p + 3, pt + 3, pl - 3) != 0))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				ph = xreallocarray(ph, cap, sizeof(*ph));
				at = xreallocarray(at, cap, sizeof(*at));
			}
			ph[n] = pair_phrase[k];
			at[n++] = (uint32_t)p;
		}
	}
	/* Counting sort by phrase; offsets stay ascending within one. */
	count = xcalloc(NPHRASES + 1, sizeof(*count));
	for (size_t i = 0; i < n; i++)
		count[ph[i] + 1]++;
	for (size_t i = 0; i < NPHRASES; i++)
		count[i + 1] += count[i];
	t->hit_start = xcalloc(NPHRASES + 1, sizeof(*t->hit_start));
	memcpy(t->hit_start, count, (NPHRASES + 1) * sizeof(*count));
	t->hit_pos = xreallocarray(NULL, n ? n : 1, sizeof(*t->hit_pos));
	for (size_t i = 0; i < n; i++)
		t->hit_pos[count[ph[i]]++] = at[i];
	free(count);
	free(ph);
	free(at);
}

/* The offsets of phrases[i] in t: *n of them. */
static const uint32_t *
text_hits(struct text *t, size_t i, size_t *n)
{
	if (t->hit_start == NULL)
		text_hits_build(t);
	*n = t->hit_start[i + 1] - t->hit_start[i];
	return t->hit_pos + t->hit_start[i];
}

/* Whether a line starts the quoted part of a reply or forward. */
static bool
line_starts_quote(const char *p, size_t n)
{
	static const char *const heads[] = {
		"-----original message", "---------- forwarded",
		"-------- original", "from: ", "sent: ", "보낸 사람:",
		"发件人:", "发件人：", "寄件者:", "寄件者：",
	};
	static const char *const tails[] = { "wrote:", "작성:", "写道:",
	    "写道：", "寫道：", "寫道:" };
	int c;

	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
		n--;
	if (n == 0)
		return false;
	if (*p == '>')
		return true;
	/* Most lines neither start as a head nor end as a tail does: a
	 * head's first byte (the heads are folded) or a tail's last byte
	 * rules a line out before any string comparison. */
	c = tolower((unsigned char)*p);
	for (size_t i = 0; i < sizeof(heads) / sizeof(*heads); i++)
		if ((unsigned char)heads[i][0] == c &&
		    n >= strlen(heads[i]) &&
		    strncasecmp(p, heads[i], strlen(heads[i])) == 0)
			return true;
	for (size_t i = 0; i < sizeof(tails) / sizeof(*tails); i++) {
		size_t t = strlen(tails[i]);

		if (n >= t && p[n - 1] == tails[i][t - 1] &&
		    strncasecmp(p + n - t, tails[i], t) == 0)
			return true;
	}
	return false;
}

/*
 * n bytes of src to dst with A-Z lowered: tolower() of the C locale,
 * which rapport never leaves, eight bytes at a time.  A byte's low seven
 * bits plus 0x3f reach 0x80 from 'A' on, plus 0x25 from past 'Z' on; a
 * byte with its high bit set is no letter.
 */
static void
ascii_lower(char *dst, const char *src, size_t n)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = ones * 0x80;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, low7;

		memcpy(&w, src + i, 8);
		low7 = w & ~highs;
		w |= (((low7 + ones * 0x3f) & ~(low7 + ones * 0x25) & ~w) &
		    highs) >> 2;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
}

static void
text_build(const struct message *m, struct text *t)
{
	struct strbuf sb;
	const char *p = m->excerpt ? m->excerpt : "";

	strbuf_init(&sb, 0);
	strbuf_adds(&sb, m->subject ? m->subject : "");
	strbuf_addc(&sb, '\n');
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (line_starts_quote(p, n))
			break;
		strbuf_add(&sb, p, n);
		strbuf_addc(&sb, '\n');
		p += n + (nl != NULL);
	}
	t->len = sb.len;
	t->hit_start = NULL;
	t->hit_pos = NULL;
	t->s = strbuf_detach(&sb);
	t->lower = xmalloc(t->len + 1);
	ascii_lower(t->lower, t->s, t->len + 1);
}

static void
text_free(struct text *t)
{
	free(t->s);
	free(t->lower);
	free(t->hit_start);
	free(t->hit_pos);
}

/* The evidence for a phrase hit: its name and the words around it. */
static char *
evidence_phrase(const struct text *t, const struct phrase *ph, size_t at)
{
	const char *start = t->s + at, *end = t->s + at + strlen(ph->text);
	struct strbuf sb;

	for (int i = 0; i < 40 && start > t->s; i++)
		start = utf8_prev(t->s, start);
	for (int i = 0; i < 60 && *end != '\0'; i++) {
		size_t l;

		utf8_decode(end, t->s + t->len, &l);
		end += l;
	}
	strbuf_init(&sb, 0);
	strbuf_addf(&sb, "%s: \"", ph->name);
	for (const char *p = start; p < end; p++)
		strbuf_addc(&sb, *p == '\n' || *p == '\r' || *p == '\t' ? ' ' :
		    *p);
	strbuf_adds(&sb, "\"");
	return strbuf_detach(&sb);
}

/* Whether the words just before a phrase deny it. */
static bool
negated(const struct text *t, size_t at)
{
	size_t from = at > 16 ? at - 16 : 0;

	for (size_t i = 0; i < sizeof(negations) / sizeof(*negations); i++) {
		const char *n = negations[i];
		size_t nl = strlen(n);

		for (size_t k = from; k + nl <= at; k++)
			/* "can't stop talking about you" praises. */
			if (memcmp(t->lower + k, n, nl) == 0 &&
			    strncmp(t->lower + k + nl, "stop ", 5) != 0)
				return true;
	}
	/* Korean denies after the verb: "추천하지 않". */
	return strstr(t->lower + at, "지 않") != NULL &&
	    strstr(t->lower + at, "지 않") - (t->lower + at) < 16;
}

/* Whether an introduction at is one the writer thanks the user for
 * ("thanks for introducing me to Mark", "you introduced me"): the user
 * brought them together, the customer did not. */
static bool
thanked(const struct text *t, size_t at)
{
	static const char *const before[] = { "thanks for ", "thank you for ",
	    "thanks for the ", "thank you for the ", "thanks again for ",
	    "thanks again for the ", "thanks for your ", "thank you for your ",
	    "grateful for the ", "you ", "you've ", "you have ", "谢谢您",
	    "谢谢你", "感谢您", "感谢你", "多谢" };

	for (size_t i = 0; i < sizeof(before) / sizeof(*before); i++) {
		size_t n = strlen(before[i]);

		if (at >= n && memcmp(t->lower + at - n, before[i], n) == 0)
			return true;
	}
	return false;
}

/* The first hit of a kind of phrase, or NULL; *at receives its offset. */
static const struct phrase *
text_find_kind(struct text *t, enum phrase_kind kind, size_t *at)
{
	for (size_t i = 0; i < NPHRASES; i++) {
		const uint32_t *hits;
		size_t nhits;

		if (phrases[i].kind != kind)
			continue;
		hits = text_hits(t, i, &nhits);
		for (size_t h = 0; h < nhits; h++) {
			size_t a = hits[h];

			if (negated(t, a) || (kind == PH_INTRO &&
			    strstr(phrases[i].name, ":introduce") != NULL &&
			    thanked(t, a)))
				continue;
			*at = a;
			return &phrases[i];
		}
	}
	return NULL;
}

/* ---- names near a phrase ------------------------------------------ */

struct name_try {
	char	 text[96];
	size_t	 distance;	/* bytes from the phrase */
	/* The whole run of name words, or a CJK piece at the start of its
	 * run: only such a piece may match a given name alone, so that
	 * "Anna Weber" or "이민준" never stand for Anna Schmidt or 김민준. */
	bool	 whole;
};

struct names {
	struct name_try	v[NAMES_MAX];
	size_t		n;
};

static void
names_add(struct names *ns, const char *s, size_t len, size_t distance,
    bool whole)
{
	if (ns->n == NAMES_MAX || len == 0 || len >= sizeof(ns->v[0].text))
		return;
	for (size_t i = 0; i < ns->n; i++)
		if (strlen(ns->v[i].text) == len &&
		    memcmp(ns->v[i].text, s, len) == 0)
			return;
	memcpy(ns->v[ns->n].text, s, len);
	ns->v[ns->n].text[len] = '\0';
	ns->v[ns->n].distance = distance;
	ns->v[ns->n].whole = whole;
	ns->n++;
}

/* Capitalized words that start sentences rather than names. */
static const char *const not_names[] = {
	"At", "On", "In", "My", "Our", "The", "Your", "Hi", "Hello", "Dear",
	"Hey", "Thanks", "Yes", "And", "But", "So", "With", "As", "Per", "Via",
	"From", "By", "To", "For", "Also", "Then", "Recently", "Today",
	"Yesterday", "Last", "This", "That", "We", "He", "She", "They", "It",
	"Mr", "Mrs", "Ms", "Dr", "Mr.", "Mrs.", "Ms.", "Dr.", "Kim",
};

/* A Latin word that may be part of a name: capitalized, not "I", not a
 * sentence opener. */
static bool
word_is_name(const char *w, size_t len)
{
	unsigned char c = (unsigned char)w[0];

	if (len == 1)
		return false;
	for (size_t i = 0; i < sizeof(not_names) / sizeof(*not_names); i++)
		if (strlen(not_names[i]) == len &&
		    strncmp(not_names[i], w, len) == 0)
			return false;
	return (c >= 'A' && c <= 'Z') || (c >= 0xc3 && c < 0xe0);
}

struct word {
	const char	*s;
	size_t		 len;
	bool		 stop;		/* ends a clause (punctuation after) */
};

/* Latin words in [start, end): at most max. */
static size_t
words_split(const char *start, const char *end, struct word *w, size_t max)
{
	size_t n = 0;
	const char *p = start;

	while (p < end && n < max) {
		const char *b;

		while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' ||
		    *p == '(' || *p == '"'))
			p++;
		b = p;
		while (p < end && *p != ' ' && *p != '\n' && *p != '\t')
			p++;
		if (p == b)
			break;
		w[n].s = b;
		w[n].len = (size_t)(p - b);
		w[n].stop = false;
		/* Trailing punctuation and possessives are not the name. */
		while (w[n].len > 0 && strchr(",.;:!?)\"", w[n].s[w[n].len - 1])) {
			w[n].stop = w[n].stop || w[n].s[w[n].len - 1] != '.' ||
			    w[n].len > 3;
			w[n].len--;
		}
		if (w[n].len > 2 && strncmp(w[n].s + w[n].len - 2, "'s", 2) == 0)
			w[n].len -= 2;
		else if (w[n].len > 4 &&
		    strncmp(w[n].s + w[n].len - 4, APOS "s", 4) == 0)
			w[n].len -= 4;
		if (w[n].len > 0)
			n++;
	}
	return n;
}

/* Clause words that separate a name from the phrase. */
static bool
word_breaks_clause(const struct word *w)
{
	static const char *const brk[] = { "and", "but", "because", "while",
	    "so", "or", "when", "which", "after", "before", "than" };

	for (size_t i = 0; i < sizeof(brk) / sizeof(*brk); i++)
		if (w->len == strlen(brk[i]) && strncmp(w->s, brk[i], w->len) == 0)
			return true;
	return false;
}

/* Every run of 1 to 3 capitalized words of w[0..n), with all its
 * sub-runs, measured from the phrase at offset at. */
static void
names_from_words(struct names *ns, const struct word *w, size_t n,
    const char *phrase_at)
{
	for (size_t i = 0; i < n; i++) {
		size_t end = i;	/* the run of name words from i */
		bool start = i == 0 || !word_is_name(w[i - 1].s, w[i - 1].len) ||
		    w[i - 1].stop;

		while (end < n && word_is_name(w[end].s, w[end].len) &&
		    (end == i || !w[end - 1].stop))
			end++;
		for (size_t k = i; k < end && k < i + 3; k++) {
			size_t dist;

			dist = w[k].s > phrase_at ? (size_t)(w[k].s - phrase_at) :
			    (size_t)(phrase_at - (w[k].s + w[k].len));
			names_add(ns, w[i].s, (size_t)(w[k].s + w[k].len - w[i].s),
			    dist, start && k + 1 == end);
		}
	}
}

/* Latin names in the clause before the phrase. */
static void
names_latin_before(const struct text *t, size_t at, struct names *ns)
{
	struct word w[24];
	size_t from = at > WINDOW_BEFORE ? at - WINDOW_BEFORE : 0, n, first = 0;

	while (from > 0 && ((unsigned char)t->s[from] & 0xc0) == 0x80)
		from++;
	n = words_split(t->s + from, t->s + at, w, 24);
	/* Only the words after the last clause break count. */
	for (size_t i = 0; i < n; i++) {
		if (word_breaks_clause(&w[i]) ||
		    (w[i].stop && i + 1 < n && !word_is_name(w[i].s, w[i].len)))
			first = i + 1;
		for (const char *p = w[i].s; p < w[i].s + w[i].len; p++)
			if (*p == '\n')
				first = i + 1;
	}
	if (from > 0 && first == 0 && n > 0)
		first = 1;	/* the first word may be cut */
	names_from_words(ns, w + first, n - first, t->s + at);
}

/* Latin names in the clause after the phrase. */
static void
names_latin_after(const struct text *t, size_t at, struct names *ns)
{
	struct word w[16];
	size_t to = at + WINDOW_AFTER < t->len ? at + WINDOW_AFTER : t->len, n,
	    last;
	const char *nl = memchr(t->s + at, '\n', to - at);

	if (nl != NULL)
		to = (size_t)(nl - t->s);
	n = words_split(t->s + at, t->s + to, w, 16);
	for (last = 0; last < n; last++)
		if (word_breaks_clause(&w[last]) || (w[last].stop &&
		    !word_is_name(w[last].s, w[last].len)))
			break;
	if (last < n && w[last].stop)
		last++;
	names_from_words(ns, w, last, t->s + at);
}

/* CJK names just before the phrase: every 2 to 4 character piece of the
 * last few runs of Hangul or ideographs in the same clause ("김민준님",
 * "经张伟"), so that particles and titles around the name are
 * harmless.  Spaces separate runs; punctuation ends the search. */
static void
names_cjk_before(const struct text *t, size_t at, struct names *ns)
{
	const char *start = t->s, *p = t->s + at, *run_end = p;
	size_t runs = 0, bytes = 0;

	while (p > start && runs < 5 && bytes < 64) {
		const char *q = utf8_prev(start, p);
		size_t l;
		unsigned c = utf8_decode(q, t->s + t->len, &l);

		if (is_cjk(c)) {
			p = q;
			bytes += l;
			continue;
		}
		if (p < run_end) {
			/* A run [p, run_end): its pieces. */
			for (const char *a = p; a < run_end;) {
				const char *b = a;
				size_t la;

				for (int k = 0; k < 4 && b < run_end; k++) {
					size_t lb;

					utf8_decode(b, run_end, &lb);
					b += lb;
					if (k >= 1)
						names_add(ns, a, (size_t)(b - a),
						    (size_t)(t->s + at - b), a == p);
				}
				utf8_decode(a, run_end, &la);
				a += la;
			}
			runs++;
		}
		if (c != ' ')
			break;
		p = q;
		run_end = q;
	}
	if (p == start && p < run_end)
		names_add(ns, p, (size_t)(run_end - p), (size_t)at, true);
}

/* CJK names just after the phrase ("多亏了刘丽，", "通过马静知道"):
 * the 2 to 4 character pieces of the run that follows, starting at its
 * first or second character (a particle such as 了 may come first);
 * only a piece at the very start may match a given name alone. */
static void
names_cjk_after(const struct text *t, size_t at, struct names *ns)
{
	const char *end = t->s + t->len, *p = t->s + at, *run_end;

	while (p < end && *p == ' ')
		p++;
	for (run_end = p; run_end < end;) {
		size_t l;

		if (!is_cjk(utf8_decode(run_end, end, &l)))
			break;
		run_end += l;
	}
	for (int s = 0; s < 2 && p < run_end; s++) {
		const char *b = p;
		size_t lp;

		for (int k = 0; k < 4 && b < run_end; k++) {
			size_t lb;

			utf8_decode(b, run_end, &lb);
			b += lb;
			if (k >= 1)
				names_add(ns, p, (size_t)(b - p),
				    (size_t)(p - (t->s + at)), s == 0);
		}
		utf8_decode(p, run_end, &lp);
		p += lp;
	}
}

/* Where a pronoun standing for the referrer starts, just before the
 * phrase ("He recommended you", "她推荐了您"), or (size_t)-1. */
static size_t
pronoun_before(const struct text *t, size_t at)
{
	static const char *const pro[] = { "he ", "she ", "he has ",
	    "she has ", "he also ", "she also ", "他", "她", "그분이 ",
	    "그분께서 " };

	for (size_t i = 0; i < sizeof(pro) / sizeof(*pro); i++) {
		size_t n = strlen(pro[i]);

		if (at >= n && memcmp(t->lower + at - n, pro[i], n) == 0 &&
		    (at == n || (unsigned char)pro[i][0] >= 0x80 ||
		    !isalpha((unsigned char)t->lower[at - n - 1])))
			return at - n;
	}
	return (size_t)-1;
}

/* Names anywhere in [from, to): every run of capitalized words and
 * every piece of every CJK run, for a pronoun's antecedent. */
static void
names_in_span(const struct text *t, size_t from, size_t to,
    struct names *ns)
{
	struct word w[32];
	const char *p = t->s + from, *end = t->s + to;
	size_t n;

	while (p < end && ((unsigned char)*p & 0xc0) == 0x80)
		p++;
	n = words_split(p, end, w, 32);
	names_from_words(ns, w, n, end);
	while (p < end) {
		const char *run = p;
		size_t l;

		while (p < end && is_cjk(utf8_decode(p, end, &l)))
			p += l;
		for (const char *a = run; a < p;) {
			const char *b = a;
			size_t la;

			for (int k = 0; k < 4 && b < p; k++) {
				size_t lb;

				utf8_decode(b, p, &lb);
				b += lb;
				if (k >= 1)
					names_add(ns, a, (size_t)(b - a),
					    (size_t)(end - b), a == run);
			}
			utf8_decode(a, p, &la);
			a += la;
		}
		if (p < end) {
			utf8_decode(p, end, &l);
			p += l;
		}
	}
}

/* ---- rules for messages ------------------------------------------- */

struct msg_ctx {
	const struct referral_detector	*d;
	const struct referral_lookup	*lu;
	const struct message		*m;
	struct text			 t;
	struct referral_candidates	*out;
	size_t				 first;	/* out->n on entry */
	int				 added;
	/* The author: its normalized address, name and role. */
	char				 from[MESSAGE_ADDR_MAX + 1];
	const char			*from_name;
	enum role			 from_role;
	int64_t				 from_id;
};

/* Whether a display name names customer id: the same person writing
 * under a new address ("Kari" from home, who is the customer Kari
 * Olsen). */
static bool
name_is_customer(const struct msg_ctx *c, const char *name, int64_t id)
{
	int64_t ids[IDS_MAX];
	enum referral_match mt = REFERRAL_MATCH_NONE;
	size_t n;

	if (name == NULL || c->lu->by_name == NULL)
		return false;
	n = c->lu->by_name(c->lu->ctx, name, ids, IDS_MAX, &mt);
	for (size_t i = 0; i < n && i < IDS_MAX; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void
put(struct msg_ctx *c, const struct found *f)
{
	c->added += candidates_put(c->out, c->first, f);
}

static bool
addr_char(char ch)
{
	return (unsigned char)ch < 0x80 && ch > ' ' &&
	    strchr("<>()[]\",;:", ch) == NULL;
}

/* A customer named near a referral phrase: by address first (the words
 * around the phrase), then by name. */
static bool
mention_by_address(struct msg_ctx *c, size_t at, const char *evidence)
{
	size_t from = at > WINDOW_BEFORE ? at - WINDOW_BEFORE : 0;
	size_t to = at + WINDOW_AFTER < c->t.len ? at + WINDOW_AFTER : c->t.len;

	for (size_t i = from; i < to; i++) {
		char addr[MESSAGE_ADDR_MAX + 1], norm[MESSAGE_ADDR_MAX + 1];
		size_t a = i, b = i, n;
		int64_t id;

		if (c->t.lower[i] != '@')
			continue;
		/* An address in running text is ASCII: CJK written right
		 * against it ("经a@b.cn介绍") is not part of it. */
		while (a > 0 && addr_char(c->t.lower[a - 1]))
			a--;
		while (b < c->t.len && addr_char(c->t.lower[b]))
			b++;
		while (b > i && c->t.lower[b - 1] == '.')
			b--;
		n = b - a;
		if (n == 0 || n > MESSAGE_ADDR_MAX)
			continue;
		memcpy(addr, c->t.lower + a, n);
		addr[n] = '\0';
		if (role_of(c->d, c->lu, addr, norm, sizeof(norm), &id) !=
		    ROLE_CUSTOMER || same_party(c->d, c->from, c->from_name,
		    norm, NULL) || name_is_customer(c, c->from_name, id))
			continue;
		put(c, &(struct found){ id, c->from, c->from_name,
		    "mention:address", evidence, REFERRAL_MATCH_ADDRESS,
		    true });
		return true;
	}
	return false;
}

/* The best customer among the names tried, at least min good: an exact
 * name before a partial one, the nearer before the farther; ambiguous
 * names are skipped. */
static enum referral_match
best_name(struct msg_ctx *c, const struct names *ns, enum referral_match min,
    int64_t *best_id)
{
	enum referral_match best = REFERRAL_MATCH_NONE;
	size_t best_dist = (size_t)-1;

	for (size_t i = 0; i < ns->n; i++) {
		int64_t ids[IDS_MAX];
		enum referral_match mt = REFERRAL_MATCH_NONE;
		size_t n;

		if (same_name(ns->v[i].text, c->from_name))
			continue;
		n = c->lu->by_name(c->lu->ctx, ns->v[i].text, ids, IDS_MAX, &mt);
		if (n != 1 || mt < min ||
		    (mt == REFERRAL_MATCH_PARTIAL && !ns->v[i].whole) ||
		    name_is_customer(c, c->from_name, ids[0]))
			continue;
		if (mt > best || (mt == best && ns->v[i].distance < best_dist)) {
			best = mt;
			best_dist = ns->v[i].distance;
			*best_id = ids[0];
		}
	}
	return best;
}

/* The best name near the phrase (see best_name). */
static bool
mention_by_name(struct msg_ctx *c, const struct phrase *ph, size_t at,
    const char *evidence, bool pronouns)
{
	struct names ns;	/* only v[0..n) is read: no 4 KiB memset */
	enum referral_match best;
	int64_t best_id = 0;
	size_t pro;
	bool by_pronoun = false;
	struct strbuf ev;

	if (c->lu->by_name == NULL)
		return false;
	ns.n = 0;
	if (ph->slot != SLOT_BEFORE) {
		names_latin_after(&c->t, at + strlen(ph->text), &ns);
		names_cjk_after(&c->t, at + strlen(ph->text), &ns);
	}
	if (ph->slot != SLOT_AFTER) {
		names_latin_before(&c->t, at, &ns);
		names_cjk_before(&c->t, at, &ns);
	}
	best = best_name(c, &ns, REFERRAL_MATCH_PARTIAL, &best_id);
	/* "Anna Rossi is my aunt; she recommended you": the pronoun's
	 * antecedent, by full name only, and never confirmed unseen. */
	if (best == REFERRAL_MATCH_NONE && pronouns &&
	    ph->slot != SLOT_AFTER &&
	    (pro = pronoun_before(&c->t, at)) != (size_t)-1) {
		ns.n = 0;
		names_in_span(&c->t, pro > PRONOUN_WINDOW ? pro -
		    PRONOUN_WINDOW : 0, pro, &ns);
		best = best_name(c, &ns, REFERRAL_MATCH_EXACT, &best_id);
		by_pronoun = best != REFERRAL_MATCH_NONE;
	}
	if (best == REFERRAL_MATCH_NONE)
		return false;
	strbuf_init(&ev, 0);
	strbuf_addf(&ev, "%s match=%s%s", evidence,
	    best == REFERRAL_MATCH_EXACT ? "exact" : "partial",
	    by_pronoun ? " (pronoun)" : "");
	put(c, &(struct found){ best_id, c->from, c->from_name, "mention:name",
	    strbuf_str(&ev), best, best == REFERRAL_MATCH_EXACT &&
	    ph->slot != SLOT_AROUND && !by_pronoun });
	strbuf_free(&ev);
	return true;
}


/* "I recommended you to X": the writer did it, the name is no referrer. */
static bool
writer_is_subject(const struct text *t, size_t at)
{
	static const char *const subj[] = { "i ", "we ", "i have ", "we have ",
	    "i've ", "we've ", "i also ", "we also ", "i'd ", "we'd ",
	    "i" APOS "d ", "we" APOS "d ", "i would ", "we would ", "i'll ",
	    "we'll ", "i can ", "we can ", "i strongly ", "we strongly ",
	    "i highly ", "we highly ", "i really ", "we really " };

	for (size_t i = 0; i < sizeof(subj) / sizeof(*subj); i++) {
		size_t n = strlen(subj[i]);

		if (at >= n && memcmp(t->lower + at - n, subj[i], n) == 0 &&
		    (at == n || !isalpha((unsigned char)t->lower[at - n - 1])))
			return true;
	}
	return false;
}

/* One pass over the referral phrases; true once a referrer is found. */
static bool
mention_pass(struct msg_ctx *c, bool pronouns)
{
	for (size_t i = 0; i < NPHRASES; i++) {
		const struct phrase *ph = &phrases[i];
		const uint32_t *hits;
		size_t nhits;

		if (ph->kind != PH_REFERRED)
			continue;
		hits = text_hits(&c->t, i, &nhits);
		for (size_t h = 0; h < nhits; h++) {
			size_t at = hits[h];
			char *ev;
			bool done;

			if (negated(&c->t, at) || (ph->slot == SLOT_AROUND &&
			    writer_is_subject(&c->t, at)))
				continue;
			ev = evidence_phrase(&c->t, ph, at);
			done = (!pronouns && mention_by_address(c, at, ev)) ||
			    mention_by_name(c, ph, at, ev, pronouns);
			free(ev);
			if (done)
				return true;
		}
	}
	return false;
}

/* A new person's message naming who sent them: by address or name
 * next to the words, and only when none is, through a pronoun ("she
 * sent me your way") standing for a name said earlier. */
static void
rule_mention(struct msg_ctx *c)
{
	for (int pass = 0; pass < 2; pass++)
		if (mention_pass(c, pass == 1))
			return;
}

/* The first phrase showing an introduction (or a referral), as
 * evidence, or NULL. */
static char *
intro_evidence(struct text *t, bool *loose)
{
	const struct phrase *ph;
	size_t at;

	if ((ph = text_find_kind(t, PH_INTRO, &at)) == NULL &&
	    (ph = text_find_kind(t, PH_REFERRED, &at)) == NULL)
		return NULL;
	/* A loose stem ("your address", "said") shows the writer talks of
	 * someone, not that it introduces them: a person decides. */
	*loose = ph->slot == SLOT_AROUND;
	return evidence_phrase(t, ph, at);
}

static bool
domains_differ(const struct referral_detector *d, const char *a,
    const char *b)
{
	const char *da = address_domain(a), *db = address_domain(b);

	return strcmp(da, db) != 0 || strset_has(&d->free_mail, da);
}

/* Whether m answers earlier mail.  A person added to the copies of a
 * running thread without a word of introduction works on the matter in
 * hand (a reply-all, a contractor copied in); introductions say so. */
static bool
is_reply(const struct message *m)
{
	static const char *const prefixes[] = { "re:", "aw:", "sv:",
	    "回复", "回覆", "答复", "답장", "회신" };
	const char *subj = m->subject ? m->subject : "";

	if (m->in_reply_to != NULL || m->nreferences > 0)
		return true;
	while (*subj == ' ')
		subj++;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++)
		if (strncasecmp(subj, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* A customer writes with new people on To/Cc. */
static void
rule_customer_to_new(struct msg_ctx *c)
{
	const struct message_addrlist *lists[] = { &c->m->to, &c->m->cc };
	const char *hdr[] = { "to", "cc" };
	bool loose = false, scanned = false, veto = false;
	char *phrase = NULL;
	size_t vat;
	bool reply = is_reply(c->m);

	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			const struct message_addr *a = &lists[l]->v[i];
			char norm[MESSAGE_ADDR_MAX + 1], *ev;
			int64_t id;

			if (role_of(c->d, c->lu, a->addr, norm, sizeof(norm),
			    &id) != ROLE_NEW ||
			    same_party(c->d, c->from, c->from_name, norm,
			    a->name) || name_is_customer(c, a->name, c->from_id))
				continue;
			/* The text is scanned only for a new person: most
			 * mail from customers copies nobody new. */
			if (!scanned) {
				phrase = intro_evidence(&c->t, &loose);
				veto = text_find_kind(&c->t, PH_VETO, &vat) !=
				    NULL;
				scanned = true;
			}
			/* A helper copied in is never a new contact;
			 * without the words, only a stranger to the
			 * customer's own organisation may count. */
			if (veto || (phrase == NULL && (reply ||
			    !domains_differ(c->d, c->from, norm))))
				continue;
			xasprintf(&ev, "%s: %s%s%s", hdr[l], norm,
			    phrase ? "; " : "", phrase ? phrase : "");
			put(c, &(struct found){ c->from_id, norm, a->name,
			    "intro:customer-to-new", ev, REFERRAL_MATCH_NONE,
			    phrase != NULL && !loose });
			free(ev);
		}
	free(phrase);
}

/* A new person writes with a customer on To/Cc. */
static void
rule_new_cc_customer(struct msg_ctx *c)
{
	const struct message_addrlist *lists[] = { &c->m->to, &c->m->cc };
	const char *hdr[] = { "to", "cc" };
	bool loose = false, scanned = false;
	char *phrase = NULL;

	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++) {
			const struct message_addr *a = &lists[l]->v[i];
			char norm[MESSAGE_ADDR_MAX + 1], *ev;
			int64_t id;

			if (role_of(c->d, c->lu, a->addr, norm, sizeof(norm),
			    &id) != ROLE_CUSTOMER ||
			    same_party(c->d, c->from, c->from_name, norm,
			    a->name) || name_is_customer(c, c->from_name, id))
				continue;
			/* Scanned only with a customer copied in. */
			if (!scanned) {
				phrase = intro_evidence(&c->t, &loose);
				scanned = true;
			}
			if (phrase == NULL && is_reply(c->m))
				continue;
			xasprintf(&ev, "%s: %s%s%s", hdr[l], norm,
			    phrase ? "; " : "", phrase ? phrase : "");
			put(c, &(struct found){ id, c->from, c->from_name,
			    "intro:new-cc-customer", ev, REFERRAL_MATCH_NONE,
			    phrase != NULL && !loose });
			free(ev);
			goto out;	/* one referrer per new person */
		}
out:
	free(phrase);
}

/* Mail no person meant as an introduction. */
static bool
message_excluded(const struct message *m, const struct classify_result *cls,
    const struct linker_result *lr)
{
	unsigned flags = cls ? cls->flags : 0;

	if (lr->outgoing || m->from.n == 0 ||
	    (flags & (CLASSIFY_AUTO_REPLY | CLASSIFY_BOUNCE | CLASSIFY_LIST)))
		return true;
	if (m->list_id != NULL || (m->precedence != NULL &&
	    (strcmp(m->precedence, "bulk") == 0 ||
	    strcmp(m->precedence, "list") == 0 ||
	    strcmp(m->precedence, "junk") == 0)))
		return true;
	return m->to.n + m->cc.n > REFERRAL_RECIPIENTS_MAX;
}

int
referral_detect_message(const struct referral_detector *d,
    const struct message *m, const struct classify_result *cls,
    const struct linker_result *lr, const struct referral_lookup *lu,
    struct referral_candidates *out)
{
	struct msg_ctx c = { .d = d, .lu = lu, .m = m, .out = out,
	    .first = out->n };

	if (message_excluded(m, cls, lr))
		return 0;
	c.from_role = role_of(d, lu, m->from.v[0].addr, c.from, sizeof(c.from),
	    &c.from_id);
	c.from_name = m->from.v[0].name;
	if (c.from_role != ROLE_CUSTOMER && c.from_role != ROLE_NEW)
		return 0;
	text_build(m, &c.t);
	if (c.from_role == ROLE_CUSTOMER) {
		rule_customer_to_new(&c);
	} else {
		/* The words name the referrer more surely than a Cc. */
		rule_mention(&c);
		rule_new_cc_customer(&c);
	}
	text_free(&c.t);
	return c.added;
}

/* ---- meetings ----------------------------------------------------- */

struct attendee {
	char		 addr[MESSAGE_ADDR_MAX + 1];
	enum role	 role;
	int64_t		 id;
};

int
referral_detect_meeting(const struct referral_detector *d, const char *uid,
    const char *organizer, const char *const *attendees, size_t nattendees,
    const struct referral_lookup *lu, struct referral_candidates *out)
{
	struct attendee *v;
	size_t n = 0, referrer = (size_t)-1, first = out->n;
	int added = 0;

	if (nattendees + (organizer != NULL) > REFERRAL_ATTENDEES_MAX)
		return 0;
	v = xcalloc(nattendees + 1, sizeof(*v));
	for (size_t i = 0; i <= nattendees; i++) {
		const char *a = i == 0 ? organizer : attendees[i - 1];

		if (a == NULL)
			continue;
		if (strncasecmp(a, "mailto:", 7) == 0)
			a += 7;
		v[n].role = role_of(d, lu, a, v[n].addr, sizeof(v[n].addr),
		    &v[n].id);
		if (v[n].role == ROLE_SKIP)
			continue;
		if (v[n].role == ROLE_CUSTOMER && referrer == (size_t)-1)
			referrer = n;	/* the organizer, when a customer */
		n++;
	}
	for (size_t i = 0; i < n && referrer != (size_t)-1; i++) {
		char *ev;

		if (v[i].role != ROLE_NEW || same_party(d, v[referrer].addr,
		    NULL, v[i].addr, NULL))
			continue;
		xasprintf(&ev, "event %s: customer %s with new %s",
		    uid ? uid : "(no uid)", v[referrer].addr, v[i].addr);
		added += candidates_put(out, first, &(struct found){
		    v[referrer].id, v[i].addr, NULL, "meeting:customer-with-new",
		    ev, REFERRAL_MATCH_NONE, false });
		free(ev);
	}
	free(v);
	return added;
}
