package answers

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ParsePhone parses a phone number for region (an ISO country code such as
// "RU") with github.com/nyaruka/phonenumbers and returns it in E.164: with
// RU, "8 (999) 123-45-67" and "9991234567" are "+79991234567". A number
// the library does not find valid for its country is not a phone. Without
// a region the number is taken as Parse takes it: 7–15 digits, "+" added.
func ParsePhone(text, region string) (string, bool) {
	s := strings.TrimSpace(text)
	if region == "" {
		return parsePhone(s)
	}
	if _, ok := parsePhone(s); !ok {
		// letters or too few digits: nothing for the library to read
		return "", false
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// KnownRegion reports whether region is a country code the phone library
// knows.
func KnownRegion(region string) bool {
	return phonenumbers.GetCountryCodeForRegion(region) != 0
}

// LanguageRegion is the country of a language code for phone numbers
// without "+", when the language names one: ru → RU.
func LanguageRegion(lang string) string {
	switch strings.ToLower(lang) {
	case "ru":
		return "RU"
	case "kk":
		return "KZ"
	case "be":
		return "BY"
	case "uk":
		return "UA"
	case "uz":
		return "UZ"
	case "de":
		return "DE"
	case "fr":
		return "FR"
	}
	return ""
}

// ParseInternational parses a number written with its country code ("+7
// 495 123-45-67") and returns it in E.164 when the phone library finds it
// valid, as a call button needs it.
func ParseInternational(text string) (string, bool) {
	s := strings.TrimSpace(text)
	if !strings.HasPrefix(s, "+") {
		return "", false
	}
	if _, ok := parsePhone(s); !ok {
		return "", false // letters or too few digits
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}
