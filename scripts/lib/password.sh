# Sourced by scripts: random_password prints a random password that flowd's
# strength check accepts. About one random string in a thousand looks
# "too simplistic/systematic" to cracklib, which flowd asks; such a draw is
# redrawn when cracklib-check (cracklib-runtime) is there to tell.
random_password()
{
	local pw check
	check=$(command -v cracklib-check || { [[ -x /usr/sbin/cracklib-check ]] && echo /usr/sbin/cracklib-check; })
	while :; do
		pw=$(openssl rand -base64 18)
		if [[ -z $check || $("$check" <<<"$pw") == *': OK' ]]; then
			printf '%s\n' "$pw"
			return
		fi
	done
}
